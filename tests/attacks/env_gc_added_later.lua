-- attack: add __gc to a metatable after setmetatable (Lua then never marks it for finalization)
-- expect: value "no finalizer ran"
local mt = {}
local t = setmetatable({}, mt)
mt.__gc = function() while true do end end
t = nil
return "no finalizer ran"
