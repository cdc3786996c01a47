-- attack: a __gc finalizer runs with hooks off and could never be stopped
-- expect: error LuaError /__gc metamethods are not allowed/
setmetatable({}, {__gc = function() while true do end end})
