-- attack: remove the host's stop hook with debug.sethook
-- expect: error LuaError /global 'debug'/
debug.sethook()
