-- attack: read the environment (the kernel's key could be there)
-- expect: error LuaError /field 'getenv'/
return os.getenv("JPY_SESSION_NAME") or os.getenv("HOME")
