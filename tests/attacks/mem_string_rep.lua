-- attack: one huge string from string.rep
-- expect: error MemoryError /memory limit exceeded.*kept/
-- magic: memory 64M
local s = ("x"):rep(1e7):rep(10)
