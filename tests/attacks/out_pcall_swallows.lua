-- attack: keep printing after the output limit, catching errors
-- expect: error OutputLimitExceeded /output limit exceeded/
while true do pcall(print, ("x"):rep(1e4)) end
