-- attack: run the kernel's connection file as Lua with dofile
-- expect: error LuaError /global 'dofile'/
dofile("@CONNECTION_FILE@")
