-- attack: walk Python-style attributes from a function (print.__globals__)
-- expect: error LuaError /attempt to index a function value/
return print.__globals__
