-- attack: a generator loop over coroutine.wrap; the stop lands inside a nested resume
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- next: return n > 0 => true
n = 0
local function gen()
  return coroutine.wrap(function()
    while true do
      local inner = coroutine.wrap(function() coroutine.yield(1) end)
      coroutine.yield(inner())
    end
  end)
end
for v in gen() do n = n + v end
