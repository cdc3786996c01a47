-- attack: move the kernel's connection file away with os.rename
-- expect: error LuaError /field 'rename'/
os.rename("@CONNECTION_FILE@", "/tmp/stolen.json")
