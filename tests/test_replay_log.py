"""The replay log and replay loop on their own, with a scripted runner instead of a worker:
what is logged, what a replay feeds back to input(), and how each failure is reported."""

from __future__ import annotations

import asyncio
from typing import Any

from safekernel.kernel.replay import (
    LoggedCell,
    RecordingFrontend,
    ReplayLog,
    ReplayLost,
    SilentFrontend,
    replay,
)
from safekernel.limits import Limits

LIMITS = Limits(timeout=5)


class _User:
    """A frontend whose user answers every question with the next of `answers`."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.shown: list[str] = []

    def stream(self, name: str, text: str) -> None:
        self.shown.append(text)

    def display(self, *args: Any) -> None:
        pass

    def clear_output(self, wait: bool) -> None:
        pass

    def result(self, data: dict[str, Any]) -> None:
        pass

    async def input(self, prompt: str, password: bool) -> str | None:
        return self.answers.pop(0)


def cell(number: int, code: str = "x = 1", **kw: Any) -> LoggedCell:
    return LoggedCell(number, code, LIMITS, **kw)


def test_recording_frontend_keeps_input_answers_in_order() -> None:
    recorder = RecordingFrontend(_User("one", "two"))
    assert asyncio.run(recorder.input("a? ", False)) == "one"
    assert asyncio.run(recorder.input("b? ", False)) == "two"
    logged = recorder.logged(3, "code", LIMITS)
    assert logged.inputs == ("one", "two")
    assert logged.not_replayable == ""


def test_a_cell_that_read_a_password_is_logged_as_not_replayable() -> None:
    recorder = RecordingFrontend(_User("secret"))
    asyncio.run(recorder.input("password: ", True))
    logged = recorder.logged(4, "pw = input()", LIMITS)
    assert logged.code == ""
    assert "password" in logged.not_replayable


def test_silent_frontend_answers_from_the_recording_then_refuses() -> None:
    silent = SilentFrontend(("Ada",))
    assert asyncio.run(silent.input("name? ", False)) == "Ada"
    assert asyncio.run(silent.input("again? ", False)) is None


def test_replay_reports_replayed_and_skipped_cells() -> None:
    outcomes = {"ok": "", "bad": "LuaError"}

    async def run(code: str, limits: Limits, frontend: SilentFrontend) -> str:
        return outcomes[code]

    cells = [cell(1, "ok"), cell(2, "bad"), cell(3, "ok", not_replayable="it read a password")]
    report = asyncio.run(replay(cells, run, budget_s=10))
    assert [c.number for c in report.replayed] == [1]
    assert [(c.number, why) for c, why in report.skipped] == [
        (2, "LuaError on replay"),
        (3, "it read a password"),
    ]
    sentence = report.sentence()
    assert "1 earlier cell was re-run silently" in sentence
    assert "In [2] (LuaError on replay)" in sentence


def test_each_replayed_cell_is_capped_by_the_remaining_budget() -> None:
    seen: list[float] = []

    async def run(code: str, limits: Limits, frontend: SilentFrontend) -> str:
        seen.append(limits.timeout)
        return ""

    asyncio.run(replay([cell(1), cell(2)], run, budget_s=0.5))
    assert all(timeout <= 0.5 for timeout in seen)


def test_a_hard_failure_during_replay_restores_nothing() -> None:
    async def run(code: str, limits: Limits, frontend: SilentFrontend) -> str:
        if code == "crash":
            raise ReplayLost("the worker crashed")
        return ""

    report = asyncio.run(replay([cell(1), cell(2, "crash"), cell(3)], run, budget_s=10))
    assert report.replayed == []
    assert "In [2]" in report.lost
    assert "gone" in report.sentence()


def test_an_interrupt_during_replay_stops_it() -> None:
    async def run(code: str, limits: Limits, frontend: SilentFrontend) -> str:
        return "KeyboardInterrupt" if code == "stop" else ""

    report = asyncio.run(replay([cell(1), cell(2, "stop"), cell(3)], run, budget_s=10))
    assert [c.number for c in report.replayed] == [1]
    assert [why for _, why in report.skipped] == ["replay interrupted", "replay interrupted"]


def test_the_log_stops_growing_past_its_cap_and_says_so() -> None:
    log = ReplayLog(max_bytes=10)
    log.record(cell(1, "x = 1"))
    log.record(cell(2, "y = 2222222"))
    log.record(cell(3, "z = 3"))
    assert [c.number for c in log.cells] == [1, 2]
    assert log.cells[1].not_replayable.startswith("the replay log was full")
    assert log.overflowed
