"""Runtimes: the languages a worker can run. The kernel side imports only `registry` (data);
the packages beside it are imported in the zygote and its workers."""

from __future__ import annotations

from safekernel.runtimes import registry
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime

__all__ = ["CellError", "CellOutcome", "EventSink", "Runtime", "create_runtime"]


def create_runtime(name: str, memory_limit: int, data_dir: str | None = None) -> Runtime:
    """Build a fresh runtime state by name (imports happen in the zygote, before forking)."""
    return registry.get(name).create(memory_limit, data_dir)
