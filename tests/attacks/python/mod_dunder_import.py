# attack: __import__ a removed module
# expect: error ModuleNotFoundError /_testcapi/
__import__('_testcapi')
