"""The Runtime interface: the language inside a worker (create state, execute a cell under
limits, complete, inspect). `lua` implements it now; `wasm` will later. The worker talks only to
this interface, and a runtime talks back only through an EventSink (wire/events.py: the one
vocabulary of a running cell, and the one outcome type).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, NoReturn

from safekernel.limits import Limits, StopKind
from safekernel.wire.confinement import LayerStatus
from safekernel.wire.events import CellError, CellOutcome, EventSink, MimeBundle

__all__ = ["CellError", "CellOutcome", "EventSink", "MimeBundle", "Runtime"]


class Runtime(abc.ABC):
    """One language state inside a worker."""

    name: str
    version: str

    @abc.abstractmethod
    def execute(self, code: str, limits: Limits, sink: EventSink) -> CellOutcome:
        """Run one cell to completion or to a limit; never raises for user errors."""

    def after_fork(self, seed: bytes) -> None:  # noqa: B027 -- optional hook, no-op by default
        """Make a state inherited from the zygote's template this worker's own; called once in
        the worker, before any request. `seed` is 16 random bytes drawn for this worker."""

    def adopt_memory_limit(self, memory_limit: int) -> None:  # noqa: B027 -- optional hook
        """The worker's memory limit, for a state made before it was known (a resident
        state, see `hold`); a state made for its limit ignores this."""

    def hold(self, serve: Callable[[], None]) -> NoReturn:
        """For a runtime whose registry entry says `resident`: run the state on this, the
        process's main thread, until it waits for its first request, and call `serve` (the
        zygote's fork loop) from inside that wait. `serve` returns only in a forked worker,
        once it is confined and its own threads run; the state then goes on here, on the
        main thread, taking the worker's requests, until it ends (then the worker exits)."""
        raise NotImplementedError(f"the {self.name} runtime cannot hold the main thread")

    def walls(self) -> list[LayerStatus]:
        """Walls the runtime itself puts around a cell, reported (and shown by %sandbox)
        before the OS layers; none by default."""
        return []

    @abc.abstractmethod
    def interrupt(self, reason: StopKind) -> None:
        """Stop the running cell soon; safe to call from another thread at any time."""

    @abc.abstractmethod
    def sample(self) -> None:
        """Called from the watchdog thread every tick while a cell runs (e.g. to track the
        memory high-water mark); must be cheap and safe while the cell's thread runs."""

    @abc.abstractmethod
    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        """A complete_reply content (matches, cursor_start, cursor_end, metadata)."""

    @abc.abstractmethod
    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        """An inspect_reply content (found, data, metadata)."""

    @abc.abstractmethod
    def is_complete(self, code: str) -> dict[str, Any]:
        """An is_complete_reply content (status, indent)."""
