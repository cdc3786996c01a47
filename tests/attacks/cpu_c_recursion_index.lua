-- attack: recursion through __index (C calls Lua calls C ...)
-- expect: error LuaError /stack overflow/
local t = setmetatable({}, {__index = function(t, k) return t[k] end})
return t.x
