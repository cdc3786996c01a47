-- attack: run out of memory while holding large globals; the state must survive
-- expect: error MemoryError /kept/
-- magic: memory 64M
-- next: #big_kept => 1000000
big_kept = ("k"):rep(1e6)
local t = {}
for i = 1, 1e9 do t[i] = {} end
