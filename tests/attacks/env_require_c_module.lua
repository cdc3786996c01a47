-- attack: load a C module (a shared library) by name
-- expect: error LuaError /global 'require'/
require("socket.core")
