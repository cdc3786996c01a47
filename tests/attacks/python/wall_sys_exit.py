# attack: sys.exit inside a cell
# expect: error SystemExit /does not end/
import sys
sys.exit(1)
