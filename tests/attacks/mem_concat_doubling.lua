-- attack: double a string by concatenation until memory runs out
-- expect: error MemoryError /memory limit exceeded/
-- magic: memory 64M
local s = "x"
while true do s = s .. s end
