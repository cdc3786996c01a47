-- attack: dump a function's bytecode with string.dump
-- expect: error LuaError /field 'dump'/
string.dump(print)
