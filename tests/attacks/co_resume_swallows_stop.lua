-- attack: resume coroutines in a loop so every stop is caught by resume
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
while true do
  coroutine.resume(coroutine.create(function() while true do end end))
end
