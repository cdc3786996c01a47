# attack: poison sys.modules for later cells
# expect: ok
# next: 1 + 1 => 2
import sys
sys.modules['json'] = None
sys.modules['os'] = 42
