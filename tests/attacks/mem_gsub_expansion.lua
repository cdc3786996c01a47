-- attack: gsub that multiplies a string's size inside C
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
local s = ("x"):rep(1e6):gsub("x", ("y"):rep(1000))
