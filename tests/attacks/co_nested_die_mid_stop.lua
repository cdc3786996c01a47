-- attack: 150 nested coroutines; the innermost loops, and the stop unwinds all of them
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- next: return coroutine.status(chain[1]) => "dead"
-- next: return select(2, coroutine.resume(chain[150])) => "cannot resume dead coroutine"
chain = {}
local function nest(level)
  if level == 150 then while true do end end
  local co = coroutine.create(nest)
  chain[level + 1] = co
  return coroutine.resume(co, level + 1)
end
chain[1] = coroutine.create(nest)
coroutine.resume(chain[1], 1)
