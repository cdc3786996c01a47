-- attack: a result whose __tostring never returns (rendering must run under the limits)
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
return setmetatable({}, {__tostring = function() while true do end end})
