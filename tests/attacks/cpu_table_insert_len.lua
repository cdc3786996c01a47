-- attack: table.insert at position 1 of a table whose __len says 2^62 (a C shift loop)
-- expect: error TimeLimitExceeded /kept/
-- magic: timeout 1
local t = setmetatable({}, {__len = function() return 2^62 end})
table.insert(t, 1, "x")
