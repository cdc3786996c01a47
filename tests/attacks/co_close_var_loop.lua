-- attack: a to-be-closed variable whose handler loops after the stop fired
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
local guard <close> = setmetatable({}, {__close = function() while true do end end})
while true do end
