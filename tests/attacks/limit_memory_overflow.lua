-- attack: a memory limit too large for the channel's integers
-- expect: error UsageError /too large/
-- magic: memory 1e30G
local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(1e3) end
