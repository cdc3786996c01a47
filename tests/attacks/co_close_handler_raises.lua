-- attack: __close handlers raise while coroutine.close runs them, many times; then a stop fires
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
-- next: return type(last) => "string"
for i = 1, 2000 do
  local co = coroutine.create(function()
    local a <close> = setmetatable({}, { __close = function() error("first " .. i) end })
    local b <close> = setmetatable({}, { __close = function() error({}) end })
    coroutine.yield()
  end)
  coroutine.resume(co)
  local ok, err = coroutine.close(co)
  last = tostring(err)
end
local junk = {}
for i = 1, 20000 do junk[i] = {} end
while true do end
