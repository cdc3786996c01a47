"""The verdict on every cell: each execute_reply's metadata says, beside `usage`, how the cell
ended (`verdict`) and what became of the session's variables (`state`); once the session's
worker has been replaced, every later reply says so (`worker_replaced`, `warning`). Read
through a real kernel, never from error text. Lua cells on the lua and wasm runtimes, Python
cells on the python runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from safekernel.kernel.verdict import STATES, VERDICTS
from tests.conftest import (
    ALL_RUNTIMES,
    FOREVER,
    STUCK_IN_C,
    ByLang,
    Kernel,
    kill_all,
    runtimes,
    start_kernel,
    wait_for,
    wait_gone,
    workers,
)
from tests.test_interrupt import run_interrupted

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES


def meta(run: Any) -> dict[str, Any]:
    metadata = run.reply["metadata"]
    assert metadata["verdict"] in VERDICTS
    assert metadata["state"] in STATES
    return dict(metadata)


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("x_ok = 1", "ok"),
        ("x_ok + 1", "ok"),
        (ByLang("error('boom')", "raise ValueError('boom')"), "error"),
        (ByLang("local = 1", "x = = 1"), "error"),
        ("%timeout nonsense\nx = 1", "refused"),
        ("%timeout 0.3\n" + FOREVER, "time-limit"),
        (
            ByLang(
                "%memory 16M\nlocal t = {} for i = 1, 1e8 do t[i] = i end",
                "%memory 32M\ndef fill():\n    t = []\n    for i in range(10**8): t.append(i)\n"
                "fill()",
            ),
            "memory-limit",
        ),
        (
            ByLang(
                "%output 1K\nfor i = 1, 1e6 do print(i) end",
                "%output 1K\nfor i in range(10**6): print(i)",
            ),
            "output-limit",
        ),
        ("%timeout 1\n%usage", "ok"),
    ],
)
def test_every_reply_carries_a_verdict_and_state(
    kernel: Kernel, code: str | ByLang[str], verdict: str
) -> None:
    run = kernel.run(code)
    metadata = meta(run)
    assert metadata["verdict"] == verdict
    # soft limits stop the Lua code, not the worker: the session keeps its variables
    assert metadata["state"] == "kept"
    assert "usage" in metadata
    assert "worker_replaced" not in metadata
    assert kernel.run("x_ok").result == "1"


@runtimes("lua", "wasm", why="an instruction budget counts Lua VM instructions")
def test_instruction_limit_verdict(kernel: Kernel) -> None:
    run = kernel.run("%instructions 10000\nwhile true do end")
    assert meta(run)["verdict"] == "instruction-limit"
    assert meta(run)["state"] == "kept"


def test_interrupt_verdict(kernel: Kernel) -> None:
    run = run_interrupted(kernel, FOREVER, kernel.km.interrupt_kernel)
    assert meta(run)["verdict"] == "interrupted"
    assert meta(run)["state"] == "kept"


@pytest.fixture
def replay_kernel(runtime: str) -> Iterator[Kernel]:
    k = start_kernel("--SafeKernel.replay_on_reset=True", runtime=runtime)
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


def test_a_hard_kill_is_time_limit_and_later_replies_say_state_was_lost(
    fresh_kernel: Kernel,
) -> None:
    fresh_kernel.run("setup = 1")
    number = fresh_kernel.run("%timeout 0.5\n" + STUCK_IN_C).reply["content"]["execution_count"]
    later = [fresh_kernel.run("x = 1"), fresh_kernel.run("x = 2")]
    for run in later:
        metadata = meta(run)
        assert metadata["verdict"] == "ok"
        assert metadata["worker_replaced"] == [
            {"cell": number, "verdict": "time-limit", "state": "lost"}
        ]
        assert f"In [{number}]" in metadata["warning"]
        assert "lost" in metadata["warning"]
    # %reset forgets everything on purpose: nothing is reported lost after it
    fresh_kernel.run("%reset")
    assert "worker_replaced" not in meta(fresh_kernel.run("y = 1"))


def test_with_replay_a_hard_kill_restores_state_and_says_so(replay_kernel: Kernel) -> None:
    replay_kernel.run("setup = 41")
    stuck = replay_kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    assert meta(stuck)["verdict"] == "time-limit"
    assert meta(stuck)["state"] == "restored"
    later = replay_kernel.run("setup + 1")
    assert later.result == "42"
    assert meta(later)["worker_replaced"][0]["state"] == "restored"
    assert "restored" in meta(later)["warning"]


def test_a_worker_killed_mid_cell_is_crashed_and_state_lost(fresh_kernel: Kernel) -> None:
    fresh_kernel.run("setup = 1")
    before = {w.pid for w in workers(fresh_kernel)}

    def kill_session_worker() -> None:
        # the busy one is the session's worker; the spare idles
        busy = max(workers(fresh_kernel), key=lambda w: w.cpu_times().user)
        assert busy.pid in before
        kill_all([busy])

    run = run_interrupted(fresh_kernel, "%timeout 30\n" + FOREVER, kill_session_worker)
    assert meta(run)["verdict"] == "crashed"
    assert meta(run)["state"] == "lost"
    assert not fresh_kernel.defined("setup")


def test_a_worker_lost_between_cells_is_reported_on_the_next_cell(fresh_kernel: Kernel) -> None:
    fresh_kernel.run("setup = 1")
    assert wait_for(lambda: len(workers(fresh_kernel)) >= 2)
    kill_all(workers(fresh_kernel))
    run = fresh_kernel.run(ByLang("setup", "globals().get('setup')"))
    metadata = meta(run)
    assert metadata["verdict"] == "ok"
    assert metadata["state"] == "lost"
    event = metadata["worker_replaced"][-1]
    assert event["between_cells"] is True
    assert event["cell"] == run.reply["content"]["execution_count"]
    assert "before In [" in metadata["warning"]


def test_in_cell_isolation_a_hard_kill_loses_no_state(runtime: str) -> None:
    k = start_kernel("--SafeKernel.isolation=cell", runtime=runtime)
    try:
        run = k.run("%timeout 0.5\n" + STUCK_IN_C)
        assert meta(run)["verdict"] == "time-limit"
        assert meta(run)["state"] == "kept"
        assert "worker_replaced" not in meta(k.run("x = 1"))
    finally:
        procs = k.tree()
        k.shutdown()
        assert wait_gone(procs) == []
