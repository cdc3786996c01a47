# attack: a loop inside one C call
# expect: error TimeLimitExceeded /time limit exceeded/
# state: lost
# magic: timeout 1
sum(range(10**13))
