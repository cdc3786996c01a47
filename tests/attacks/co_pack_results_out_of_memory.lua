-- attack: coroutines fill memory and yield, so results cannot be packed; then a stop fires
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 2
-- magic: memory 32M
-- next: return survivor => 1
survivor = 1
local function filler(keep)
  local t = {}
  for j = 1, 20000 do t[j] = j end
  local hog = {}
  local function add(n) hog[#hog + 1] = string.rep("x", n) end
  local size = 1 << 20
  while size >= 1 do
    if not pcall(add, size) then size = size // 2 end
  end
  if not keep then hog = nil end
  coroutine.yield(table.unpack(t, 1, 20000))
end
for round = 1, 30 do
  pcall(function()
    if round % 2 == 0 then coroutine.wrap(filler)(round % 4 == 0)
    else coroutine.resume(coroutine.create(filler), round % 3 == 0) end
  end)
end
pcall(function()
  local junk = {}
  for i = 1, 20000 do junk[i] = string.rep("y", 150) .. i end
end)
while true do end
