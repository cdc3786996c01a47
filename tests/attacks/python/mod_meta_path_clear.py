# attack: clear the import machinery
# expect: ok
# next: 3 * 3 => 9
import sys
sys.meta_path.clear()
sys.path_hooks.clear()
