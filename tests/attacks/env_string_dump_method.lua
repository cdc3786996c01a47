-- attack: reach string.dump through the shared string metatable
-- expect: error LuaError /'dump'/
("").dump(function() end)
