-- attack: nest coroutines until the C stack runs out
-- expect: error LuaError /C stack overflow|stack overflow/
local function nest() return coroutine.wrap(nest)() end
nest()
