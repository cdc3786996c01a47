# attack: the plain endless loop
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 1
while True:
    pass
