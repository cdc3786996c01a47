-- attack: a pattern that backtracks inside C (no hook runs there: the worker is killed)
-- expect: error TimeLimitExceeded /earlier variables are gone/
-- state: lost
-- magic: timeout 0.5
string.rep("a", 3e6):find(".-.-.-.-b")
