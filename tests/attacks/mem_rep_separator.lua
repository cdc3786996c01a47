-- attack: string.rep with a large separator (10 GB in one C call) is refused before it allocates
-- expect: error LuaError /resulting string too large|not enough memory/
return #("x"):rep(1e7, ("y"):rep(1000))
