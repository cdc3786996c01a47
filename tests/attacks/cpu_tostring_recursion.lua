-- attack: a __tostring that calls tostring on itself
-- expect: error LuaError /stack overflow/
local t
t = setmetatable({}, {__tostring = function(s) return tostring(s) end})
return tostring(t)
