-- attack: outrun the kernel with tiny displays until the soft time limit: the backlog it reads must not turn the soft stop into a kill
-- magic: timeout 2
-- magic: messages 100000
-- expect: error TimeLimitExceeded /longer than 2 s/
-- state: kept
kept_through_backlog = 1
for i = 1, 1e9 do display.html("x") end
