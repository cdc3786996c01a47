# attack: import _testbuffer
# expect: error ModuleNotFoundError /_testbuffer/
import _testbuffer
