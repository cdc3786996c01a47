-- attack: a table.sort comparator that never returns (called from C)
-- expect: error TimeLimitExceeded /time limit exceeded/
-- magic: timeout 1
table.sort({3, 2, 1}, function() while true do end end)
