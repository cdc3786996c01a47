-- attack: catch the stop with pcall inside the loop
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
while true do pcall(function() while true do end end) end
