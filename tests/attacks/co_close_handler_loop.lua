-- attack: a __close handler run by coroutine.close loops forever
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
local co = coroutine.create(function()
  local guard <close> = setmetatable({}, {__close = function() while true do end end})
  coroutine.yield()
end)
coroutine.resume(co)
coroutine.close(co)
