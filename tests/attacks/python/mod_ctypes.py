# attack: import ctypes
# expect: error ModuleNotFoundError /ctypes/
import ctypes
