-- attack: inside coroutines, an xpcall handler that errors itself (error in error handling)
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
for i = 1, 2000 do
  local co = coroutine.wrap(function()
    xpcall(function() error("boom") end, function(e) error({ e }) end)
    xpcall(function() local t = nil; return t.x end, function() return coroutine.yield(1) end)
    coroutine.yield(2)
    error("dies")
  end)
  pcall(co)
  pcall(co)
  pcall(co)
end
local junk = {}
for i = 1, 20000 do junk[i] = {} end
while true do end
