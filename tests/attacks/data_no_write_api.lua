-- attack: write through the data API
-- expect: error LuaError /field 'write'/
data.write("input.txt", "pwned")
