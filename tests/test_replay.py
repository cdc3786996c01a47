"""Recovery that keeps work (`--SafeKernel.replay_on_reset=True`): when the session's worker is
replaced, its earlier successful cells are re-run silently so the variables come back, and the
message says so and names every cell that was not restored. Lua cells on the lua and wasm
runtimes, Python cells on the python runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import (
    ALL_RUNTIMES,
    ByLang,
    Kernel,
    kill_all,
    leftovers,
    quoted,
    snapshot,
    start_kernel,
    workers,
)
from tests.conftest import STUCK_IN_C as STUCK

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
STUCK_IN_C = "%timeout 0.5\n" + STUCK


@pytest.fixture
def replay_kernel(request: pytest.FixtureRequest, runtime: str) -> Iterator[Kernel]:
    extra = getattr(request, "param", [])
    k = start_kernel("--SafeKernel.replay_on_reset=True", *extra, runtime=runtime)
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def test_variables_come_back_after_a_hard_timeout(replay_kernel: Kernel) -> None:
    replay_kernel.run("a = 20")
    replay_kernel.run("b = a + 1\nprint('shown once')")
    replay_kernel.run(ByLang("function twice(x) return 2 * x end", "def twice(x): return 2 * x"))
    run = replay_kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "3 earlier cells were re-run silently" in run.error["evalue"]
    assert "gone" not in run.error["evalue"]
    # the replay printed nothing the user can see
    assert run.stdout == ""
    assert replay_kernel.run("twice(b)").result == "42"


def test_failed_cells_are_not_replayed(replay_kernel: Kernel) -> None:
    replay_kernel.run("good = 1")
    assert (
        replay_kernel.run(
            ByLang("half = 1\nerror('boom')", "half = 1\nraise ValueError('boom')")
        ).status
        == "error"
    )
    run = replay_kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert "1 earlier cell was re-run" in run.error["evalue"]
    assert replay_kernel.run("good").result == "1"
    # a cell that failed may have half-changed things; replay does not reproduce that
    assert not replay_kernel.defined("half")


@pytest.mark.parametrize("replay_kernel", [["--SafeKernel.replay_timeout=1"]], indirect=True)
def test_a_replay_that_runs_out_of_time_is_named_and_does_not_hang(replay_kernel: Kernel) -> None:
    replay_kernel.run("first = 1")
    slow = "%timeout 5\n" + ByLang(
        "local t0 = os.clock()\nwhile os.clock() - t0 < 1.5 do end\nslow = 2",
        "import time\nt0 = time.time()\nwhile time.time() - t0 < 1.5: pass\nslow = 2",
    )
    slow_run = replay_kernel.run(slow)
    assert slow_run.status == "ok"
    slow_number = slow_run.reply["content"]["execution_count"]
    replay_kernel.run("last = 3")
    run = replay_kernel.run(STUCK_IN_C)
    assert run.error is not None
    evalue = run.error["evalue"]
    assert "1 earlier cell was re-run" in evalue
    assert f"In [{slow_number}] (TimeLimitExceeded on replay)" in evalue
    assert f"In [{slow_number + 1}] (out of replay time)" in evalue
    assert replay_kernel.run("first").result == "1"
    assert not replay_kernel.defined("last")


def test_input_answers_are_replayed(replay_kernel: Kernel) -> None:
    def answer(msg: dict[str, Any]) -> None:
        replay_kernel.kc.input("Ada")

    run = replay_kernel.run("name = input('name? ')", allow_stdin=True, stdin_hook=answer)
    assert run.status == "ok"
    replay_kernel.run(STUCK_IN_C)
    assert replay_kernel.run("name").result == replay_kernel.pick(quoted("Ada"))


def test_isolated_cells_are_not_replayed(replay_kernel: Kernel) -> None:
    replay_kernel.run("kept = 1")
    replay_kernel.run("%isolate\nisolated = 1")
    run = replay_kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert "1 earlier cell was re-run" in run.error["evalue"]
    assert not replay_kernel.defined("isolated")


def test_replay_follows_a_worker_lost_between_cells(replay_kernel: Kernel) -> None:
    replay_kernel.run("survives = 'yes'")
    kill_all(workers(replay_kernel))
    run = replay_kernel.run("survives")
    assert run.result == replay_kernel.pick(quoted("yes"))
    assert "stopped between cells" in run.stderr
    assert "re-run silently" in run.stderr


def test_replayed_cells_are_replayed_again_after_a_second_reset(replay_kernel: Kernel) -> None:
    replay_kernel.run("count = 1")
    replay_kernel.run(STUCK_IN_C)
    replay_kernel.run("count = count + 1")
    run = replay_kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert "2 earlier cells were re-run" in run.error["evalue"]
    assert replay_kernel.run("count").result == "2"


def test_without_replay_a_reset_says_variables_are_gone(fresh_kernel: Kernel) -> None:
    fresh_kernel.run("plain = 1")
    run = fresh_kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert "earlier variables are gone" in run.error["evalue"]
    assert not fresh_kernel.defined("plain")
