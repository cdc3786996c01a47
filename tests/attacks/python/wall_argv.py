# attack: look for secrets in argv
# expect: ok
import sys
assert not any('key' in a.lower() or 'connection' in a.lower() for a in sys.argv[1:2])
len(sys.argv)
