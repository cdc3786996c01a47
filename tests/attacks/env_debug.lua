-- attack: use the debug library (registry, upvalues, hooks)
-- expect: error LuaError /global 'debug'/
debug.getregistry()
