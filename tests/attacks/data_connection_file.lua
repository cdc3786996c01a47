-- attack: read the kernel's connection file (its HMAC key) by absolute path
-- expect: error LuaError /not absolute/
return data.read("@CONNECTION_FILE@")
