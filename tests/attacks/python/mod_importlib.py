# attack: importlib.import_module a removed module
# expect: error ModuleNotFoundError /_testinternalcapi/
import importlib
importlib.import_module('_testinternalcapi')
