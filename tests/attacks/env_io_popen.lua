-- attack: start a shell through io.popen
-- expect: error LuaError /global 'io'/
io.popen("touch @SENTINEL@")
