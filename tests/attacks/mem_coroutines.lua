-- attack: allocate coroutines (each has its own stack) without end
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
local cs = {}
while true do cs[#cs + 1] = coroutine.create(print) end
