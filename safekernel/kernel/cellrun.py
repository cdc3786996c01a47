"""One cell as the kernel sees it: its deadlines, its output so far, and how it ended."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from safekernel.errors import SafeKernelError
from safekernel.kernel.outputs import OutputCheck
from safekernel.kernel.verdict import verdict_for_stop
from safekernel.limits import (
    HARD_KILL_GRACE_S,
    KERNEL_LAG_ALLOWANCE,
    Limits,
    StopKind,
    limit_message,
)
from safekernel.wire.events import CellError, CellOutcome

#: the stop kinds whose error is a limit's message (limits.limit_message)
LIMIT_STOPS = frozenset(
    {StopKind.TIME, StopKind.INTERRUPT, StopKind.OUTPUT, StopKind.MESSAGES, StopKind.DISPLAY}
)


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

    def fail_stopped(
        self, stop: HardStop, limits: Limits, *, isolated: bool, state_note: str | None
    ) -> None:
        """Fail with plain words for a cell that ended its worker. `isolated`: the cell ran in
        a worker of its own (no session state was at stake); `state_note` replaces the
        sentence about the session's variables (e.g. after a replay)."""
        verdict = verdict_for_stop(stop.kind)
        if stop.kind in LIMIT_STOPS:
            ename, evalue = limit_message(
                stop.kind, limits, state_kept=isolated, state_note=state_note
            )
            self.fail(ename, evalue, verdict=verdict)
            return
        kept = (
            ""
            if isolated
            else " " + (state_note or "The worker was replaced, so earlier variables are gone.")
        )
        if stop.kind == StopKind.PROTOCOL:
            self.fail(
                "WorkerError",
                f"the sandbox worker misbehaved ({stop.detail}) and was ended.{kept}",
                verdict=verdict,
            )
        else:
            self.fail(
                "WorkerCrashed",
                "the sandbox worker stopped unexpectedly (a crash or a resource limit such as "
                f"memory or CPU).{kept}",
                verdict=verdict,
            )


class CellRun:
    """The kernel's view of one running cell: deadlines and output accounting."""

    def __init__(self, limits: Limits, request_id: int) -> None:
        loop = asyncio.get_running_loop()
        self.limits = limits
        #: the id of the execute request: the worker's `done` must carry it
        self.request_id = request_id
        self.deadline = loop.time() + limits.timeout + HARD_KILL_GRACE_S
        self.interrupt_deadline: float | None = None
        #: seconds the kernel's deadline was pushed back for the kernel's own work
        self.lag = 0.0
        self.outputs = OutputCheck()
        self.interrupted = asyncio.Event()
        #: the cell has sent something on to the frontend (so running it again would show it twice)
        self.emitted = False
        #: why the kernel killed the worker mid-cell (an interrupt, the output cap), if it did
        self.stopped_by: StopKind | None = None
        self.stop_reason = StopKind.INTERRUPT

    def pause(self, seconds: float) -> None:
        """The worker's clock stood still this long (an input() the kernel answered)."""
        self.deadline += seconds

    def charge_lag(self, seconds: float) -> None:
        """The kernel spent `seconds` on the cell's output while the worker waited for it to
        read on: the worker's soft stop and its `done` arrive that much later, so the hard
        deadline moves too (within KERNEL_LAG_ALLOWANCE of the timeout: a worker cannot
        buy itself unbounded time, since its output is bounded too)."""
        allowance = KERNEL_LAG_ALLOWANCE * self.limits.timeout - self.lag
        extra = min(seconds, max(0.0, allowance))
        self.lag += extra
        self.deadline += extra
        if self.interrupt_deadline is not None:
            # the same holds for an interrupt's grace: what the worker sent before the stop
            # reached it is still being read
            self.interrupt_deadline += extra

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
            StopKind.MESSAGES: "output limit",
            StopKind.DISPLAY: "output limit",
            StopKind.CRASH: "the worker crashed",
        }.get(self.kind, f"the worker misbehaved: {self.detail}")
