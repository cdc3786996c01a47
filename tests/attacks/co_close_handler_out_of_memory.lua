-- attack: a __close handler run by coroutine.close runs out of memory; then a stop fires
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- magic: memory 32M
for i = 1, 20 do
  local co = coroutine.create(function()
    local hog = {}
    local guard <close> = setmetatable({}, { __close = function()
      while true do hog[#hog + 1] = string.rep("z", 100000) .. #hog end
    end })
    coroutine.yield()
  end)
  coroutine.resume(co)
  pcall(coroutine.close, co)
end
while true do end
