-- attack: a quadratic plain substring search inside C
-- expect: error TimeLimitExceeded /earlier variables are gone/
-- state: lost
-- magic: timeout 0.5
local hay = ("a"):rep(4e6)
return hay:find(("a"):rep(2e5) .. "b", 1, true)
