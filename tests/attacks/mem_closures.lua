-- attack: allocate closures without end
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
local fs = {}
while true do fs[#fs + 1] = function() return fs end end
