-- attack: read a host file by absolute path
-- expect: error LuaError /not absolute/
return data.read("@SENTINEL@")
