-- attack: a __tostring that returns a table
-- expect: error LuaError /could not show the result/
return setmetatable({}, {__tostring = function() return {} end})
