# attack: an endless loop in a gc callback
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
import gc
gc.callbacks.append(lambda *a: [None for _ in iter(int, 1)])
gc.collect()
