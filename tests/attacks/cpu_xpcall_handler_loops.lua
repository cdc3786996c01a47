-- attack: an xpcall message handler that loops (handlers run with hooks off)
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
xpcall(function() while true do end end, function() while true do end end)
