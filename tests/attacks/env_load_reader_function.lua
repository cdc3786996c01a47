-- attack: feed load a reader function (it could return bytecode piece by piece)
-- expect: error LuaError /only string chunks/
local parts = {"\27Lua", "T"}
local i = 0
load(function() i = i + 1 return parts[i] end)
