-- attack: load the io module through require
-- expect: error LuaError /global 'require'/
local io = require("io")
