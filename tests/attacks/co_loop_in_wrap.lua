-- attack: an endless loop inside a coroutine (hooks are per coroutine in Lua 5.4)
-- expect: error TimeLimitExceeded /time limit exceeded.*kept/
-- magic: timeout 1
coroutine.wrap(function() while true do end end)()
