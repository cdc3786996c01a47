-- attack: an error object whose __tostring never returns
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
error(setmetatable({}, {__tostring = function() while true do end end}))
