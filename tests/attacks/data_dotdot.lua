-- attack: climb out of the data dir with ..
-- expect: error LuaError /'\.\.' is not allowed/
return data.read("sub/../../sentinel.txt")
