# attack: replace sys.stdout and sys.stderr so later cells lose their output and results
# expect: ok
# next: 1 + 4 => 5
import sys
sys.stdout = None
sys.stderr = None
sys.stdin = None
