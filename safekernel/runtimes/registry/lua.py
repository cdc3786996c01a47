"""Lua 5.4 through lupa (safekernel/runtimes/lua/)."""

from __future__ import annotations

from safekernel.runtimes.registry import RuntimeEntry

ENTRY = RuntimeEntry(
    name="lua",
    module="safekernel.runtimes.lua",
    factory="LuaRuntime",
    language_info={
        "name": "lua",
        "version": "5.4",
        "mimetype": "text/x-lua",
        "file_extension": ".lua",
        "pygments_lexer": "lua",
        "codemirror_mode": "lua",
    },
    banner="Lua 5.4",
    kernelspec_name="safe",
    display_name="Lua (sandboxed)",
)
