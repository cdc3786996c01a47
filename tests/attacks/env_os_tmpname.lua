-- attack: create a temporary file with os.tmpname
-- expect: error LuaError /field 'tmpname'/
return os.tmpname()
