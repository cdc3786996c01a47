-- attack: a loop of input() calls that each fail at once (no stdin): the kernel's clock must pause exactly as the worker's
-- magic: timeout 1
-- expect: error TimeLimitExceeded /longer than 1 s/
-- state: kept
kept_through_input_loop = 1
while true do pcall(input, "?") end
