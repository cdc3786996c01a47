-- attack: coroutines resume and close themselves and their resumers, then a stop fires
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- next: return #errors > 0 => true
errors = {}
local parent
parent = coroutine.create(function()
  local child = coroutine.create(function()
    errors[#errors + 1] = select(2, coroutine.resume(parent))
    errors[#errors + 1] = select(2, pcall(coroutine.close, parent))
    errors[#errors + 1] = select(2, coroutine.resume(coroutine.running()))
    errors[#errors + 1] = select(2, pcall(coroutine.close, coroutine.running()))
    coroutine.yield()
  end)
  coroutine.resume(child)
  coroutine.resume(child)
  coroutine.yield()
end)
coroutine.resume(parent)
for _ = 1, 1000 do coroutine.resume(coroutine.create(function() coroutine.yield() end)) end
while true do end
