-- attack: a print and a clear_output per step, forever: two messages a step, no bytes to speak of
-- expect: error OutputLimitExceeded /outputs/
-- next: type(flooded_with_clears) => "boolean"
flooded_with_clears = true
for i = 1, 1e8 do print(i) clear_output() end
