-- attack: table.remove at position 1 of a table whose __len says 2^62
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
local t = setmetatable({}, {__len = function() return 2^62 end})
table.remove(t, 1)
