-- attack: grow a table without end
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
local t = {}
for i = 1, 1e9 do t[i] = i end
