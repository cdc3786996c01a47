# attack: delete the cell's __builtins__ and a few builtins
# expect: ok
# next: len([1, 2, 3]) => 3
import builtins
del builtins.len
del __builtins__
