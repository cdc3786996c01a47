-- attack: two coroutines that hand control back and forth forever
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
local a = coroutine.wrap(function() while true do coroutine.yield() end end)
while true do a() end
