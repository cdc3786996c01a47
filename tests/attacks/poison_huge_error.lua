-- attack: an error message of several megabytes
-- expect: error LuaError /^cell:\d+: x{1000}/
error(("x"):rep(5e6))
