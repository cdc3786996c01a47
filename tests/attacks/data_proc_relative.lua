-- attack: reach /proc through a relative name
-- expect: error LuaError /does not exist/
return data.read("proc/self/environ")
