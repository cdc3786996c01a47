# attack: import _xxtestfuzz
# expect: error ModuleNotFoundError /_xxtestfuzz/
import _xxtestfuzz
