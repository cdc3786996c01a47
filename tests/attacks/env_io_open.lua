-- attack: open a host file for writing through the io library
-- expect: error LuaError /global 'io'/
local f = io.open("@SENTINEL@", "w")
f:write("pwned")
