-- attack: raise a look-alike of the host's stop error to skip handlers
-- expect: error LuaError /stopped by safekernel/
error(setmetatable({}, {__tostring = function() return "stopped by safekernel" end}))
