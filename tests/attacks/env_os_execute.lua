-- attack: run a shell command with os.execute
-- expect: error LuaError /field 'execute'/
os.execute("echo pwned > @SENTINEL@")
