-- attack: smuggle a NUL byte into a name
-- expect: error LuaError /not a file name/
return data.read("input.txt\0/../../sentinel.txt")
