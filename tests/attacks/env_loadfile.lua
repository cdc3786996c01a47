-- attack: read a file as a chunk with loadfile
-- expect: error LuaError /global 'loadfile'/
loadfile("/etc/passwd")
