"""Runtimes: the languages a worker can run. The kernel side never imports this package."""

from __future__ import annotations

from safekernel.errors import ConfigError
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime

__all__ = ["RUNTIMES", "CellError", "CellOutcome", "EventSink", "Runtime", "create_runtime"]

RUNTIMES = ("lua",)


def create_runtime(name: str, memory_limit: int, data_dir: str | None = None) -> Runtime:
    """Build a fresh runtime state by name (imports happen in the zygote, before forking)."""
    if name == "lua":
        from safekernel.runtimes.lua import LuaRuntime

        return LuaRuntime(memory_limit, data_dir)
    raise ConfigError(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}")
