-- attack: call system() from libc through package.loadlib
-- expect: error LuaError /global 'package'/
local system = package.loadlib("libc.so.6", "system")
system("id")
