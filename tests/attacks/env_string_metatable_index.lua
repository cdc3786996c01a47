-- attack: read the real string table through getmetatable("").__index
-- expect: error LuaError /attempt to index a nil value/
local real = getmetatable("").__index
return real.dump
