-- attack: table.unpack of 10^8 values
-- expect: error LuaError /over the sandbox's cap|too many results/
return select('#', table.unpack({}, 1, 1e8))
