"""The one vocabulary of a running cell, on both sides of the wire, and how a cell ended.

A cell shows what it shows through CellEvents: stream, display, clear_output. On the worker
side a runtime reports them to an EventSink (worker/loop.py's Sink sends them on the wire, and
input blocks the cell's thread until the kernel answers). On the kernel side the session hands
them, checked, to a Frontend (kernel/iopub.py publishes them on IOPub; kernel/replay.py's
recorders log or drop them), which also gets the cell's value and answers input
asynchronously (None: this frontend takes no input).

How a cell ended is one CellOutcome: the runtime returns it, the worker sends it as `result`,
`error` and `done` messages, and the kernel rebuilds it (kernel/cellrun.py's ExecuteOutcome adds
what only the kernel knows: the verdict and what became of the session's variables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from safekernel.limits import StopKind

MimeBundle = dict[str, Any]


class CellEvents(Protocol):
    """What a running cell shows, as either side sees it."""

    def stream(self, name: str, text: str) -> None: ...

    def display(
        self, data: MimeBundle, metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None: ...

    def clear_output(self, wait: bool) -> None: ...


class EventSink(CellEvents, Protocol):
    """The worker side: where a runtime reports a running cell's events."""

    def input(self, prompt: str, password: bool) -> str:
        """The user's answer; blocks the cell's thread. Raises SafeKernelError if none comes."""
        ...


class Frontend(CellEvents, Protocol):
    """The kernel side: where the session hands a cell's checked events."""

    def result(self, data: MimeBundle) -> None: ...

    async def input(self, prompt: str, password: bool) -> str | None:
        """The user's answer; None if this frontend takes no input."""
        ...


@dataclass
class CellError:
    ename: str
    evalue: str
    traceback: list[str]


@dataclass
class CellOutcome:
    """How a cell ended. `result` is its value as a MIME bundle, if it had one; `stop` names
    the limit that stopped it, None if none did."""

    result: MimeBundle | None = None
    error: CellError | None = None
    usage: dict[str, float] = field(default_factory=dict)
    stop: StopKind | None = None

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"
