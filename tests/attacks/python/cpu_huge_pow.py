# attack: a huge integer power (C code)
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 1
x = 7 ** (10 ** 9)
