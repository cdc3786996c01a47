# attack: load _testcapi with _imp.create_builtin
# expect: value True
import _imp, importlib.machinery as m
_imp.create_builtin(m.ModuleSpec('_testcapi', None)) is None
