"""Fault injection through a real kernel: the worker (or its zygote) is killed, crashed, stopped,
made to exit or to hang up at chosen moments of a cell. Each time the cell ends with a clear error
(no hang: the client's timeout is far above the cell's limit), what it streamed before the fault
is kept and in order, the next cell runs, the pool is refilled and no process is left behind.

The scripted fake runtime makes the moments deterministic (a cell prints a known line, then
waits); a few cases run the real Lua runtime.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from tests.conftest import (
    CellRun,
    Kernel,
    leftovers,
    snapshot,
    start_kernel,
    wait_for,
    wait_gone,
    workers,
    zygotes,
)

#: the client's guard: far above every cell's limit plus the kill grace (not a measurement)
GUARD_S = 60.0
#: streamed before the fault, in this order
LINES = [f"line {i}" for i in range(5)]
STREAMED = "".join(line + "\n" for line in LINES)
PRINTS = "\n".join(f"print {line}" for line in LINES)
#: how long a SIGSTOPped process stays stopped before its (late) SIGCONT
STOPPED_S = 4.0

Fault = Callable[[Kernel], None]


def _worker(kernel: Kernel) -> psutil.Process:
    found = workers(kernel)
    assert len(found) == 1, found  # pool_size=0: the session's worker is the only one
    return found[0]


def _signal(target: Callable[[Kernel], psutil.Process], signum: int) -> Fault:
    def fault(kernel: Kernel) -> None:
        process = target(kernel)
        os.kill(process.pid, signum)
        if signum == signal.SIGSTOP:
            # continue it late, long after the kernel should have given up on it
            threading.Timer(STOPPED_S, _cont, args=(process.pid,)).start()

    return fault


def _cont(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the kernel ended it: what should happen
        os.kill(pid, signal.SIGCONT)


def _zygote(kernel: Kernel) -> psutil.Process:
    found = zygotes(kernel)
    assert len(found) == 1, found
    return found[0]


FAULTS: dict[str, Fault] = {
    "worker-SIGKILL": _signal(_worker, signal.SIGKILL),
    "worker-SIGSEGV": _signal(_worker, signal.SIGSEGV),
    "worker-SIGSTOP": _signal(_worker, signal.SIGSTOP),
    "zygote-SIGKILL": _signal(_zygote, signal.SIGKILL),
    "zygote-SIGSTOP": _signal(_zygote, signal.SIGSTOP),
}
#: what the error of a cell hit by the fault may be named (a stopped worker is only noticed by
#: the time limit; a killed one is a crash)
ENAMES = {"WorkerCrashed", "TimeLimitExceeded", "WorkerLost", "WorkerError"}


@pytest.fixture(scope="module")
def fault_kernel() -> Iterator[Kernel]:
    # one worker, no spares: the worker under test is the only one, so it is found without guessing
    k = start_kernel("--SafeKernel.runtime=fake", "--SafeKernel.pool_size=0")
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def run_with_fault(kernel: Kernel, code: str, fault: Fault, after: str | None) -> CellRun:
    """Run `code`; inject `fault` once the stream line `after` arrived (or, if None, once the
    kernel said the cell started and the worker had time to receive it)."""
    outputs: list[dict[str, Any]] = []
    fired = threading.Event()
    failed: list[BaseException] = []

    def fire() -> None:
        if not fired.is_set():
            fired.set()
            try:
                fault(kernel)
            except Exception as exc:  # raised again below, in the test's own thread
                failed.append(exc)

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("status", "execute_input"):
            if msg["msg_type"] == "execute_input" and after is None:
                threading.Timer(0.5, fire).start()
            return
        outputs.append(msg)
        if msg["msg_type"] == "stream" and after is not None and after in msg["content"]["text"]:
            fire()

    reply = kernel.kc.execute_interactive(code, output_hook=keep, timeout=GUARD_S)
    assert fired.is_set(), "the fault was never injected"
    if failed:
        raise failed[0]
    return CellRun(reply, outputs)


def assert_failed_clearly(run: CellRun, streamed: str) -> None:
    assert run.status == "error"
    assert run.reply["content"]["ename"] in ENAMES, run.reply["content"]
    assert run.error is not None
    assert run.error["evalue"]  # a message for the user, not an empty error
    assert "Traceback" not in run.error["evalue"]
    assert run.reply["metadata"].get("verdict"), run.reply["metadata"]
    # what was streamed before the fault is all there, in order, and nothing after it
    assert run.stdout == streamed
    stream_positions = [i for i, m in enumerate(run.outputs) if m["msg_type"] == "stream"]
    error_position = next(i for i, m in enumerate(run.outputs) if m["msg_type"] == "error")
    assert all(i < error_position for i in stream_positions)


def assert_recovered(kernel: Kernel) -> None:
    after = kernel.run("print after the fault\nresult fine", timeout=GUARD_S)
    assert after.status == "ok", after.reply["content"]
    assert after.stdout == "after the fault\n"
    assert after.result == "fine"
    # refilled: one zygote, one worker, nothing else (the stopped or killed ones are gone)
    assert wait_for(lambda: len(zygotes(kernel)) == 1 and len(workers(kernel)) == 1)
    assert wait_for(lambda: len(kernel.tree()) == 3), kernel.tree()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("moment", ["before-output", "mid-stream"])
def test_a_fault_during_a_cell_ends_it_clearly_and_keeps_what_was_streamed(
    fault_kernel: Kernel, fault: str, moment: str
) -> None:
    before_output = moment == "before-output"
    code = "%timeout 1.5\n" + ("" if before_output else PRINTS + "\n") + "sleep 30\nprint never"
    run = run_with_fault(fault_kernel, code, FAULTS[fault], None if before_output else LINES[-1])
    assert_failed_clearly(run, "" if before_output else STREAMED)
    assert "never" not in run.stdout
    assert_recovered(fault_kernel)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_while_the_cell_waits_for_input_ends_it_and_ignores_the_late_answer(
    fault_kernel: Kernel, fault: str
) -> None:
    kc = fault_kernel.kc
    outputs: list[dict[str, Any]] = []

    def answer_late(msg: dict[str, Any]) -> None:
        FAULTS[fault](fault_kernel)
        time.sleep(0.5)
        kc.input("late answer")

    reply = kc.execute_interactive(
        "%timeout 1.5\nprint asking\ninput name?\nprint never",
        output_hook=lambda m: (
            outputs.append(m) if m["msg_type"] not in ("status", "execute_input") else None
        ),
        allow_stdin=True,
        stdin_hook=answer_late,
        timeout=GUARD_S,
    )
    run = CellRun(reply, outputs)
    if run.status == "ok":
        # a stopped process may be continued before anyone needed it: then the answer counts
        assert fault.endswith("SIGSTOP")
        assert run.stdout == "asking\nlate answer\nnever\n"
    else:
        assert_failed_clearly(run, "asking\n")
    assert_recovered(fault_kernel)


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_between_cells_is_noticed_and_the_next_cell_runs(
    fault_kernel: Kernel, fault: str
) -> None:
    assert fault_kernel.run("set kept 1").status == "ok"
    FAULTS[fault](fault_kernel)
    time.sleep(0.3)  # the fault lands while the kernel is idle
    run = fault_kernel.run("%timeout 1.5\nprint next cell", timeout=GUARD_S)
    if run.status == "error":
        # a stopped worker is indistinguishable from a slow one: the time limit ends it
        assert fault.endswith("SIGSTOP"), run.reply["content"]
        assert_failed_clearly(run, "")
    else:
        assert run.stdout == "next cell\n"
        if fault == "zygote-SIGSTOP":
            # the worker itself is untouched (a stopped zygote forks nothing until continued)
            assert run.stderr == ""
        else:
            assert "stopped between cells" in run.stderr
    assert_recovered(fault_kernel)


@pytest.mark.parametrize(
    ("code", "streamed"),
    [
        (PRINTS + "\nsleep 0.2\nexit 0\nprint never", STREAMED),
        (PRINTS + "\nsleep 0.2\nexit 3\nprint never", STREAMED),
        ("%timeout 1.5\n" + PRINTS + "\nsleep 0.2\nrogue close\nsleep 30\nprint never", STREAMED),
        ("%timeout 1.5\n" + PRINTS + "\nsleep 0.2\nrogue close\nspin", STREAMED),
    ],
    ids=["exit-0", "exit-3", "hang-up-and-sleep", "hang-up-and-spin"],
)
def test_a_worker_that_leaves_mid_cell_ends_the_cell_clearly(
    fault_kernel: Kernel, code: str, streamed: str
) -> None:
    run = fault_kernel.run(code, timeout=GUARD_S)
    assert_failed_clearly(run, streamed)
    assert_recovered(fault_kernel)


def test_a_stopped_worker_does_not_stop_the_kernel_answering(fault_kernel: Kernel) -> None:
    """While the worker is stopped mid-cell (nothing reads its end of the channel), the kernel
    keeps answering the control channel, and many interrupts (each written towards the stopped
    worker) neither block it nor outlive the cell."""
    kc = fault_kernel.kc
    answered: list[str] = []

    def stop_and_pester(kernel: Kernel) -> None:
        os.kill(_worker(kernel).pid, signal.SIGSTOP)

        def pester() -> None:
            for _ in range(50):
                fault_kernel.km.interrupt_kernel()
            answered.append("interrupts sent")

        threading.Thread(target=pester).start()

    code = "%timeout 2\n" + PRINTS + "\nsleep 30\nprint never"
    run = run_with_fault(fault_kernel, code, stop_and_pester, LINES[-1])
    assert run.status == "error"
    assert run.stdout == STREAMED
    assert wait_for(lambda: answered == ["interrupts sent"])
    # the kernel answers a request at once, and on the shell channel the next cell runs
    msg_id = kc.kernel_info()
    reply = kc.get_shell_msg(timeout=GUARD_S)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert_recovered(fault_kernel)


# -- replay: a fault while earlier cells are re-run in the new worker ---------------------------
@pytest.fixture(scope="module")
def replay_kernel() -> Iterator[Kernel]:
    k = start_kernel(
        "--SafeKernel.runtime=fake", "--SafeKernel.pool_size=0", "--SafeKernel.replay_on_reset=True"
    )
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


@pytest.mark.parametrize("fault", ["worker-SIGKILL", "worker-SIGSTOP", "zygote-SIGKILL"])
def test_a_fault_during_replay_is_named_and_the_cell_runs_in_a_fresh_worker(
    replay_kernel: Kernel, fault: str
) -> None:
    assert replay_kernel.run("set replayed yes\nsleep 2").status == "ok"
    victim = _worker(replay_kernel)
    os.kill(victim.pid, signal.SIGKILL)
    # between cells: the next cell is sent once the worker has died (sent to a dying worker, it
    # would be that cell's own crash, not a loss between cells, and the fault below would land
    # in the replay after it instead)
    assert wait_gone([victim]) == []
    # the next cell first replays the slow cell in a new worker: the fault lands in that replay
    run = run_with_fault(replay_kernel, "%timeout 1.5\nget replayed", FAULTS[fault], None)
    assert run.status == "ok", run.reply["content"]
    if fault == "worker-SIGSTOP" and run.stdout == "yes\n":
        # continued in time: a stopped worker is only a slow one, and the replay finished
        assert "re-run silently" in run.stderr  # "1 earlier cell was" / "N earlier cells were"
        assert_recovered(replay_kernel)
        return
    # the user is told, once, that the replay failed and which cell it was; nothing is half-kept
    assert run.stderr.count("replaying earlier cells failed (In [") == 1, run.stderr
    assert run.stdout == "nil\n"
    assert run.reply["metadata"]["state"] == "lost"
    assert_recovered(replay_kernel)


# -- the real Lua runtime -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lua_kernel() -> Iterator[Kernel]:
    k = start_kernel("--SafeKernel.pool_size=0")
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


LUA_STREAM = "for i = 0, 4 do print('line ' .. i) end\n"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV, signal.SIGSTOP])
def test_a_lua_worker_killed_mid_stream_keeps_its_output(lua_kernel: Kernel, signum: int) -> None:
    code = "%timeout 1.5\n" + LUA_STREAM + "while true do end"
    run = run_with_fault(lua_kernel, code, _signal(_worker, signum), LINES[-1])
    assert_failed_clearly(run, STREAMED)
    after = lua_kernel.run("1 + 1", timeout=GUARD_S)
    assert after.result == "2"
    assert wait_for(lambda: len(lua_kernel.tree()) == 3), lua_kernel.tree()


def test_a_lua_zygote_killed_during_a_cell_is_replaced(lua_kernel: Kernel) -> None:
    code = "%timeout 1.5\n" + LUA_STREAM + "while true do end"
    run = run_with_fault(lua_kernel, code, _signal(_zygote, signal.SIGKILL), LINES[-1])
    assert run.status == "error"
    assert run.stdout == STREAMED
    assert lua_kernel.run("2 + 2", timeout=GUARD_S).result == "4"
    assert wait_for(lambda: len(lua_kernel.tree()) == 3), lua_kernel.tree()
