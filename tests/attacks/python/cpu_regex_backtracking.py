# attack: catastrophic regex backtracking
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 1
import re
re.match(r'(a+)+$', 'a' * 40 + 'b')
