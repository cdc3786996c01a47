-- attack: replace the metatable of strings
-- expect: error LuaError /bad argument #1 to 'setmetatable'/
setmetatable("", {__index = function() return "pwned" end})
