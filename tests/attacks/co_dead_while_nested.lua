-- attack: outer coroutines die with errors while inner ones are suspended, then a stop fires
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- next: return 6 * 7 => 42
for i = 1, 3000 do
  local inner = coroutine.create(function() coroutine.yield() end)
  local outer = coroutine.wrap(function()
    coroutine.resume(inner)
    local t = nil
    return t.field
  end)
  pcall(outer)
  if i % 100 == 0 then
    local junk = {}
    for j = 1, 2000 do junk[j] = string.rep("q", 200) .. j end
  end
end
while true do end
