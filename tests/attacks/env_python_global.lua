-- attack: evaluate Python through lupa's python module
-- expect: error LuaError /global 'python'/
return python.eval("__import__('os').system('id')")
