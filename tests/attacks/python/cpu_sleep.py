# attack: sleep past the time limit
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 1
import time
time.sleep(100)
