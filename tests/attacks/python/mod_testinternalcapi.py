# attack: import _testinternalcapi
# expect: error ModuleNotFoundError /_testinternalcapi/
import _testinternalcapi
