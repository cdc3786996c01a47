"""A whitelist environment like the sandbox's, for testing the pure-Lua modules (json.lua,
plot.lua) on their own: exactly the names the loader promises a module, nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

lua54 = pytest.importorskip("lupa.lua54")

LUA_DIR = Path(__file__).resolve().parents[1] / "safekernel" / "runtimes" / "lua" / "lib"

# Exactly what the loader promises the module: these basic functions and copies of these
# libraries (string without dump). Nothing else: no io, os, debug, require or load.
WHITELIST_FUNCTIONS = (
    *("pairs", "ipairs", "next", "select", "type", "tostring", "tonumber", "pcall", "error"),
    *("assert", "setmetatable", "getmetatable", "rawequal", "rawlen", "rawget", "rawset"),
)
WHITELIST_LIBRARIES = ("string", "table", "math", "utf8")

MAKE_ENV = """
local functions, libraries, sources, errors_source = ...
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end
local env = {}
for _, name in ipairs(functions) do env[name] = _G[name] end
for _, name in ipairs(libraries) do env[name] = copy(_G[name]) end
env.string.dump = nil
local errors = assert(load(errors_source, "=errors", "t", env))()
for name, source in pairs(sources) do
  env[name] = assert(load(source, "=" .. name, "t", env))(errors)
end
return env
"""

RUN_CELL = """
local env, code = ...
return assert(load(code, "=cell", "t", env))()
"""


class Sandbox:
    """A Lua 5.4 state with one whitelist env holding the modules; runs cells in that env."""

    def __init__(self, *modules: str) -> None:
        self.lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        sources = {m: (LUA_DIR / f"{m}.lua").read_text(encoding="utf-8") for m in modules}
        self.env = self.lua.execute(
            MAKE_ENV,
            self.lua.table_from(WHITELIST_FUNCTIONS),
            self.lua.table_from(WHITELIST_LIBRARIES),
            self.lua.table_from(sources),
            (LUA_DIR / "errors.lua").read_text(encoding="utf-8"),
        )

    def run(self, code: str) -> Any:
        return self.lua.execute(RUN_CELL, self.env, code)

    def error(self, code: str) -> str:
        with pytest.raises(lua54.LuaError) as info:
            self.run(code)
        return str(info.value)
