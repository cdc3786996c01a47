-- attack: one print of 5 MB
-- expect: error OutputLimitExceeded /output limit exceeded/
print(("x"):rep(5e6))
