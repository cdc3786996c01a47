-- attack: a chunk nested too deep for the parser
-- expect: error LuaError /too many|overflow/
assert(load(("("):rep(1e5) .. "1" .. (")"):rep(1e5)))
