-- attack: stop the garbage collector (memory accounting, finalizer timing)
-- expect: error LuaError /only "count"/
collectgarbage("stop")
