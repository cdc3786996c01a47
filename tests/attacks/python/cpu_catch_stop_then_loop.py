# attack: catch the time limit, then loop again in the handler (the stop fires again there)
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 1
try:
    while True:
        pass
except BaseException:
    while True:
        pass
