-- attack: burn through an instruction budget
-- expect: error InstructionLimitExceeded /more than 1,000,000 Lua instructions.*kept/
-- magic: instructions 1e6
local n = 0
while true do n = n + 1 end
