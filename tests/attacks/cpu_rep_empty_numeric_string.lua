-- attack: ("").rep with a numeric string count loops 2^53 times in C
-- expect: error LuaError /over the sandbox's cap/
return ("").rep("", "9007199254740992")
