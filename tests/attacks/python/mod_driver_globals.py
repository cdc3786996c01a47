# attack: reach the driver's globals and break its reply
# expect: ok
# state: kept
import sys
m = sys.modules['__main__']
m._send = None
