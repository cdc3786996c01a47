-- attack: print without end
-- expect: error OutputLimitExceeded /output limit exceeded.*kept/
while true do print(("x"):rep(1000)) end
