"""One cell as the kernel sees it: its deadlines, its output so far, and how it ended."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from safekernel.errors import SafeKernelError
from safekernel.kernel.outputs import OutputCheck
from safekernel.limits import HARD_KILL_GRACE_S, Limits, StopKind
from safekernel.wire.events import CellError, CellOutcome


@dataclass
class ExecuteOutcome(CellOutcome):
    """A cell's outcome as the kernel knows it: the worker's, plus how the cell ended in one
    word and what became of the session's variables (see verdict.py)."""

    verdict: str = "ok"
    state: str = "kept"

    @property
    def ename(self) -> str:
        return self.error.ename if self.error else ""

    @property
    def evalue(self) -> str:
        return self.error.evalue if self.error else ""

    @property
    def traceback(self) -> list[str]:
        return self.error.traceback if self.error else []

    def fail(
        self,
        ename: str,
        evalue: str,
        traceback: list[str] | None = None,
        verdict: str = "error",
    ) -> None:
        lines = traceback if traceback is not None else [f"{ename}: {evalue}"]
        self.error, self.verdict = CellError(ename, evalue, lines), verdict


class CellRun:
    """The kernel's view of one running cell: deadlines and output accounting."""

    def __init__(self, limits: Limits, request_id: int) -> None:
        loop = asyncio.get_running_loop()
        self.limits = limits
        #: the id of the execute request: the worker's `done` must carry it
        self.request_id = request_id
        self.deadline = loop.time() + limits.timeout + HARD_KILL_GRACE_S
        self.interrupt_deadline: float | None = None
        self.output_bytes = 0
        self.output_cut = False
        self.outputs = OutputCheck()
        self.interrupted = asyncio.Event()
        #: the cell has sent something on to the frontend (so running it again would show it twice)
        self.emitted = False
        #: why the kernel killed the worker mid-cell (an interrupt, the output cap), if it did
        self.stopped_by: StopKind | None = None
        self.stop_reason = StopKind.INTERRUPT

    def remaining(self) -> float:
        now = asyncio.get_running_loop().time()
        ends = [self.deadline]
        if self.interrupt_deadline is not None:
            ends.append(self.interrupt_deadline)
        return max(0.0, min(ends) - now)

    def hard_reason(self) -> StopKind:
        if self.interrupt_deadline is not None and self.interrupt_deadline <= self.deadline:
            return self.stop_reason
        return StopKind.TIME


class HardStop(SafeKernelError):
    """A cell ended its worker: `kind` is time / interrupt / output / crash / protocol."""

    def __init__(self, kind: StopKind, detail: str = "", emitted: bool = False) -> None:
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail
        #: whether the cell had sent anything to the frontend before its worker ended
        self.emitted = emitted

    def describe(self) -> str:
        return {
            StopKind.TIME: "time limit",
            StopKind.INTERRUPT: "interrupted",
            StopKind.OUTPUT: "output limit",
            StopKind.CRASH: "the worker crashed",
        }.get(self.kind, f"the worker misbehaved: {self.detail}")
