-- attack: ask load for binary mode explicitly
-- expect: error LuaError /binary chunks are not allowed/
load("return 1", "chunk", "b")
