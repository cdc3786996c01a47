-- attack: delete a host file with os.remove
-- expect: error LuaError /field 'remove'/
os.remove("@SENTINEL@")
