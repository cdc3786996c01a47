-- attack: millions of tiny displays, each far under every byte cap
-- expect: error OutputLimitExceeded /more than 10,000 outputs/
flooded = true
for i = 1, 1e8 do display.html("x") end
