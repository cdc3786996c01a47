# attack: deeply nested marshal data exhausts the guest's C stack: a trap, so the worker is replaced
# expect: error WorkerCrashed /stopped unexpectedly/
# state: lost
import marshal
try:
    marshal.loads(b')\x01' * 100000 + b'N')
except (ValueError, RecursionError, EOFError):
    pass
