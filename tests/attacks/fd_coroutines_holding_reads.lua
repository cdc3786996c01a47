-- attack: suspend many coroutines in the middle of their data reads
-- expect: value 300
local cos = {}
for i = 1, 300 do
  cos[i] = coroutine.create(function() local s = data.read("sub/nested.txt") coroutine.yield() return s end)
  coroutine.resume(cos[i])
end
local n = 0
for i = 1, 300 do if select(2, coroutine.resume(cos[i])) == "nested\n" then n = n + 1 end end
return n
