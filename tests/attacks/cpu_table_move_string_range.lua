-- attack: table.move over 10^15 slots given as strings (slips past a type check)
-- expect: error LuaError /over the sandbox's cap/
table.move({}, "1", "1e15", 2)
