"""Recovery that keeps work: a session's log of its successful cells, replayed silently into a
new worker when the old one had to be replaced (`--SafeKernel.replay_on_reset=True`).

What is logged, and why:
  * only cells that ran in the session's own worker and finished without error: a cell that
    failed may have half-changed its variables, and replaying it would fail again;
  * never `%isolate` cells or `cell`-isolation cells: they share no state, so there is none
    to restore;
  * each cell's limits, so a replay runs under the limits the cell succeeded with, capped by
    the replay's own time budget (a replay can never hang the kernel);
  * the answers the user typed into `input()`, fed back in order on replay; a cell that read a
    password is logged as not replayable (the kernel keeps no passwords).

A replay is silent (its output is dropped). A replayed cell that errors or hits a limit is
named in the message and the replay goes on; one that breaks a hard limit ends the replay,
and then no variable is restored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from safekernel.errors import SafeKernelError
from safekernel.limits import MIN_REPLAY_SLICE_S, Limits
from safekernel.wire.events import Frontend

#: replayed code kept per session; past this, later cells are not logged (and so not restored)
MAX_LOG_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class LoggedCell:
    #: the execution count the user saw (In [n])
    number: int
    code: str
    limits: Limits
    #: answers given to input(), in order
    inputs: tuple[str, ...] = ()
    #: why this cell cannot be replayed, if it cannot
    not_replayable: str = ""

    @property
    def label(self) -> str:
        return f"In [{self.number}]"


class ReplayLog:
    """The successful cells whose effects make up the session worker's state."""

    def __init__(self, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.cells: list[LoggedCell] = []
        self.max_bytes = max_bytes
        self._bytes = 0
        self.overflowed = False

    def record(self, cell: LoggedCell) -> None:
        if self.overflowed:
            return
        size = len(cell.code) + sum(len(answer) for answer in cell.inputs)
        if self._bytes + size > self.max_bytes:
            # later cells may build on this one: from here on, nothing more is logged
            why = "the replay log was full; later cells were not logged"
            self.cells.append(LoggedCell(cell.number, "", cell.limits, (), why))
            self.overflowed = True
            return
        self._bytes += size
        self.cells.append(cell)

    def reset(self, cells: list[LoggedCell] | None = None) -> None:
        self.cells = list(cells or [])
        self._bytes = sum(len(c.code) + sum(map(len, c.inputs)) for c in self.cells)
        self.overflowed = False


@dataclass
class ReplayReport:
    replayed: list[LoggedCell] = field(default_factory=list)
    #: (cell, why it was not replayed)
    skipped: list[tuple[LoggedCell, str]] = field(default_factory=list)
    #: the replay itself broke a hard limit: nothing was restored
    lost: str = ""

    def sentence(self) -> str:
        """What the user is told about their variables (one sentence or two)."""
        if self.lost:
            return (
                f"The worker was replaced and replaying earlier cells failed ({self.lost}), so "
                "earlier variables are gone: re-run the cells you need."
            )
        if not self.replayed and not self.skipped:
            return "The worker was replaced (no earlier cells needed replaying)."
        text = (
            f"The worker was replaced; {_cells(len(self.replayed))} re-run silently to restore "
            "your variables."
        )
        if self.skipped:
            text += " Not restored: " + "; ".join(f"{c.label} ({why})" for c, why in self.skipped)
            text += "."
        return text


def _cells(count: int) -> str:
    return "1 earlier cell was" if count == 1 else f"{count} earlier cells were"


class RecordingFrontend(Frontend):
    """Passes a cell's events through, and notes the input() answers for a later replay."""

    def __init__(self, inner: Frontend) -> None:
        self.inner = inner
        self.inputs: list[str] = []
        self.read_password = False

    def stream(self, name: str, text: str) -> None:
        self.inner.stream(name, text)

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        self.inner.display(data, metadata, display_id, update)

    def clear_output(self, wait: bool) -> None:
        self.inner.clear_output(wait)

    def result(self, data: dict[str, Any]) -> None:
        self.inner.result(data)

    async def input(self, prompt: str, password: bool) -> str | None:
        value = await self.inner.input(prompt, password)
        if password:
            self.read_password = True
        elif value is not None:
            self.inputs.append(value)
        return value

    def logged(self, number: int, code: str, limits: Limits) -> LoggedCell:
        if self.read_password:
            return LoggedCell(number, "", limits, (), "it read a password, which is not kept")
        return LoggedCell(number, code, limits, tuple(self.inputs))


class SilentFrontend(Frontend):
    """A replay's frontend: drops every output, answers input() from the recorded answers."""

    def __init__(self, answers: tuple[str, ...]) -> None:
        self._answers = list(answers)

    def stream(self, name: str, text: str) -> None:
        pass

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        pass

    def clear_output(self, wait: bool) -> None:
        pass

    def result(self, data: dict[str, Any]) -> None:
        pass

    async def input(self, prompt: str, password: bool) -> str | None:
        # more questions than the first run asked: the cell does not replay the same way
        return self._answers.pop(0) if self._answers and not password else None


#: runs one cell in the new worker: (code, limits, frontend) -> (ename or "" if ok)
RunCell = Callable[[str, Limits, SilentFrontend], Awaitable[str]]


class ReplayLost(SafeKernelError):
    """A replayed cell broke a hard limit: the new worker is gone too."""


async def replay(cells: list[LoggedCell], run: RunCell, budget_s: float) -> ReplayReport:
    """Re-run `cells` silently, each under its own limits and within `budget_s` in all."""
    report = ReplayReport()
    remaining = budget_s
    for index, cell in enumerate(cells):
        if cell.not_replayable:
            report.skipped.append((cell, cell.not_replayable))
            continue
        if remaining < MIN_REPLAY_SLICE_S:
            report.skipped += [(c, "out of replay time") for c in cells[index:]]
            break
        limits = cell.limits.with_overrides(timeout=min(cell.limits.timeout, remaining))
        try:
            ename, spent = await _timed(run(cell.code, limits, SilentFrontend(cell.inputs)))
        except ReplayLost as exc:
            report.lost = f"{cell.label}: {exc}"
            report.replayed.clear()
            return report
        remaining -= spent
        if not ename:
            report.replayed.append(cell)
        elif ename == "KeyboardInterrupt":
            report.skipped += [(c, "replay interrupted") for c in cells[index:]]
            break
        else:
            report.skipped.append((cell, f"{ename} on replay"))
    return report


async def _timed(step: Awaitable[str]) -> tuple[str, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    ename = await step
    return ename, loop.time() - started
