-- attack: write into the (protected) string metatable
-- expect: error LuaError /attempt to index a string value/
local mt = getmetatable("")
mt.__index = {}
