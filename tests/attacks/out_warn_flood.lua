-- attack: flood stderr through warn
-- expect: error OutputLimitExceeded /output limit exceeded/
while true do warn(("w"):rep(1000)) end
