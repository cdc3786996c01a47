# attack: import _testcapi (memory corruption helpers)
# expect: error ModuleNotFoundError /_testcapi/
import _testcapi
