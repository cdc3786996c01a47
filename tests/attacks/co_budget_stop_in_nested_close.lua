-- attack: the instruction budget runs out inside __close handlers of nested coroutines
-- expect: error InstructionLimitExceeded /instruction limit exceeded/
-- magic: instructions 3000000
-- next: return 6 * 7 => 42
local function nest(level)
  local guard <close> = setmetatable({}, { __close = function()
    local inner = coroutine.wrap(function() for i = 1, 1000 do coroutine.yield(i) end end)
    for _ = 1, 1000 do inner() end
  end })
  if level < 20 then
    local co = coroutine.create(nest)
    coroutine.resume(co, level + 1)
    coroutine.close(co)
  end
  coroutine.yield(level)
end
while true do
  local co = coroutine.create(nest)
  coroutine.resume(co, 1)
  pcall(coroutine.close, co)
end
