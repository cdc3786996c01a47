# attack: replace builtins the driver uses
# expect: ok
# next: [1, 2, 3] => [1, 2, 3]
import builtins
builtins.repr = None
builtins.len = None
