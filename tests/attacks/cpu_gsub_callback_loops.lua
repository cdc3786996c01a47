-- attack: a gsub replacement function that never returns (called from C)
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
string.gsub("abc", ".", function() while true do end end)
