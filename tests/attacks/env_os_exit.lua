-- attack: end the worker process with os.exit
-- expect: error LuaError /field 'exit'/
os.exit(0, true)
