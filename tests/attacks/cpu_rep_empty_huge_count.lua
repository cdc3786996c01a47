-- attack: ("").rep with a huge count loops in C without allocating
-- expect: error LuaError /over the sandbox's cap/
return (""):rep(2^53)
