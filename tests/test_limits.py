"""Every limit, through a real kernel: a clear one-line error, the kernel still up, and the
session state kept (soft limits) or the worker replaced (hard ones), as DESIGN.md §5 says.
Lua cells on the lua and wasm runtimes, Python cells on the python runtime.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psutil
import pytest

from safekernel.worker.loop import fail_closed
from tests.conftest import (
    ALL_RUNTIMES,
    FOREVER,
    STUCK_IN_C,
    ByLang,
    Kernel,
    runtimes,
    start_kernel,
    wait_gone,
)

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
#: the instruction budget counts Lua VM instructions (the Python runtime has the time limit)
INSTRUCTIONS = runtimes("lua", "wasm", why="an instruction budget counts Lua VM instructions")

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def small_kernel(runtime: str) -> Iterator[Kernel]:
    """A kernel whose limits come from its options, not from magics."""
    k = start_kernel(
        "--SafeKernel.memory_limit=64M",
        "--SafeKernel.instruction_limit=2000000",
        "--SafeKernel.output_limit=64K",
        "--SafeKernel.timeout=5",
        "--SafeKernel.max_message_size=128K",
        runtime=runtime,
    )
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


def repeat(char: str, times: int) -> ByLang[str]:
    """A cell that prints `char` `times` times on one line."""
    return ByLang(f"print(('{char}'):rep({times}))", f"print('{char}' * {times})")


def _error(kernel: Kernel, code: str | ByLang[str], timeout: float = 60) -> dict[str, str]:
    run = kernel.run(code, timeout=timeout)
    assert run.status == "error", run.result
    assert run.error is not None
    return {"ename": run.error["ename"], "evalue": run.error["evalue"]}


def _one_line_with_advice(evalue: str) -> None:
    assert "\n" not in evalue
    assert "Traceback" not in evalue


@INSTRUCTIONS
def test_instruction_limit_option_stops_a_loop_and_keeps_state(small_kernel: Kernel) -> None:
    small_kernel.run("instr_kept = 'yes'")
    error = _error(small_kernel, "while true do end")
    assert error["ename"] == "InstructionLimitExceeded"
    assert "2,000,000" in error["evalue"]
    assert "%instructions" in error["evalue"]
    _one_line_with_advice(error["evalue"])
    assert small_kernel.run("instr_kept").result == '"yes"'


@INSTRUCTIONS
def test_instruction_magic_overrides_the_option(small_kernel: Kernel) -> None:
    # 3 million instructions: over the kernel's budget, fine with a larger one
    code = "local n = 0 for i = 1, 1e6 do n = n + i end return n"
    assert _error(small_kernel, code)["ename"] == "InstructionLimitExceeded"
    assert small_kernel.run("%instructions 1e8\n" + code).result == "500000500000"
    assert small_kernel.run("%instructions 0\n" + code).result == "500000500000"


def test_memory_limit_option_is_a_clear_error_and_keeps_state(small_kernel: Kernel) -> None:
    small_kernel.run("mem_kept = 41")
    error = _error(
        small_kernel,
        ByLang(
            "%instructions 0\nlocal t = {} for i = 1, 1e9 do t[i] = i end",
            # in a function, as the Lua `local`: the next cells do not keep the memory
            "def fill():\n    t = []\n    for i in range(10**9): t.append(i)\nfill()",
        ),
    )
    assert error["ename"] == "MemoryError"
    assert "64 MB" in error["evalue"]
    assert "Your variables are kept" in error["evalue"]
    _one_line_with_advice(error["evalue"])
    assert small_kernel.run("mem_kept + 1").result == "42"


def test_memory_magic_above_the_address_space_backstop_is_refused(small_kernel: Kernel) -> None:
    error = _error(small_kernel, "%memory 4G\n1")
    assert error["ename"] == "UsageError"
    assert "--SafeKernel.memory_limit" in error["evalue"]
    assert small_kernel.run("6 * 7").result == "42"


def test_most_memory_a_cell_may_ask_for_is_met_before_the_backstop(small_kernel: Kernel) -> None:
    """At the largest `%memory` the kernel accepts, filling Lua ends in the soft MemoryError
    (state kept), not in the worker's address-space rlimit."""
    ceiling = _error(small_kernel, "%memory 4G\n1")["evalue"].split("at most ")[1]
    megabytes = int(ceiling.split("M")[0])
    small_kernel.run("ceiling_kept = 1")
    code = f"%memory {megabytes}M\n%instructions 0\n%timeout 60\n" + ByLang(
        "local keep = {}\nfor i = 1, 1e9 do keep[i] = ('x'):rep(1000) .. i end",
        "def fill():\n    keep = []\n    for i in range(10**9): keep.append('x' * 1000 + str(i))\n"
        "fill()",
    )
    error = _error(small_kernel, code, timeout=120)
    assert error["ename"] == "MemoryError"
    assert f"{megabytes} MB" in error["evalue"]
    assert small_kernel.run("ceiling_kept").result == "1"


def test_a_failing_worker_thread_ends_the_worker() -> None:
    """Memory exhausted outside Lua (say, a MemoryError in the output thread at the rlimit)
    must end the worker, which the kernel reports as replaced, rather than leave it stuck."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child

        def fail() -> None:
            raise MemoryError

        fail_closed(fail)()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) != 0


def test_output_limit_option_cuts_and_stops_the_cell(small_kernel: Kernel) -> None:
    small_kernel.run("out_kept = 1")
    run = small_kernel.run(
        ByLang(
            "%instructions 0\nfor i = 1, 1e7 do print(('y'):rep(99)) end",
            "for i in range(10**7): print('y' * 99)",
        )
    )
    assert run.error is not None
    assert run.error["ename"] == "OutputLimitExceeded"
    assert "64 KB" in run.error["evalue"]
    assert "stopped" in run.error["evalue"]
    assert 0 < len(run.stdout) <= 64 * 1024
    assert small_kernel.run("out_kept").result == "1"


def test_output_limit_default_is_one_megabyte(runtime: str) -> None:
    k = start_kernel(runtime=runtime)
    try:
        run = k.run(
            ByLang("while true do print(('z'):rep(999)) end", "while True: print('z' * 999)")
        )
        assert run.error is not None
        assert run.error["ename"] == "OutputLimitExceeded"
        assert 900 * 1024 < len(run.stdout) <= MIB
        assert k.run("%output 2K\n" + repeat("a", 1500)).stdout == "a" * 1500 + "\n"
        small = k.run("%output 2K\n" + repeat("a", 3000))
        assert small.error is not None
        assert len(small.stdout) <= 2048
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_large_output_travels_in_frames_below_the_message_cap(small_kernel: Kernel) -> None:
    run = small_kernel.run("%output 1M\n" + repeat("p", 500000))
    assert run.status == "ok", run.error
    assert len(run.stdout) == 500_001


def test_oversized_message_ends_the_worker_and_a_fresh_one_takes_over(
    small_kernel: Kernel,
) -> None:
    small_kernel.run("frame_lost = 1")
    # an error message of 200 KB travels as one message: over this kernel's 128K cap
    error = _error(
        small_kernel, ByLang("error(('e'):rep(200000))", "raise ValueError('e' * 200000)")
    )
    assert error["ename"] == "WorkerError"
    assert "over the cap" in error["evalue"]
    assert "earlier variables are gone" in error["evalue"]
    assert not small_kernel.defined("frame_lost")
    assert small_kernel.run("6 * 7").result == "42"


def test_recursion_depth_is_a_clear_error_and_keeps_state(small_kernel: Kernel) -> None:
    small_kernel.run("rec_kept = 7")
    code = "%instructions 0\n%memory 256M\n" + ByLang(
        "local function f() return 1 + f() end\nf()", "def f(): return 1 + f()\nf()"
    )
    error = _error(small_kernel, code)
    assert error["ename"] == small_kernel.pick(ByLang("LuaError", "RecursionError"))
    assert small_kernel.pick(ByLang("stack overflow", "maximum recursion depth")) in error["evalue"]
    assert small_kernel.run("rec_kept").result == "7"


def test_time_limit_option_soft_then_hard(small_kernel: Kernel) -> None:
    small_kernel.run("time_kept = 1")
    soft = _error(small_kernel, "%instructions 0\n%timeout 0.5\n" + FOREVER)
    assert soft["ename"] == "TimeLimitExceeded"
    assert "kept" in soft["evalue"]
    assert small_kernel.run("time_kept").result == "1"
    hard = _error(small_kernel, "%timeout 0.5\n" + STUCK_IN_C)
    assert hard["ename"] == "TimeLimitExceeded"
    assert "earlier variables are gone" in hard["evalue"]
    assert not small_kernel.defined("time_kept")


def test_worker_killed_mid_cell_is_replaced_at_once(runtime: str) -> None:
    """A hard failure from outside (the OOM killer, a seccomp kill): the cell fails at once
    with a plain message, not at its time limit, and the next cell runs in a fresh worker."""
    k = start_kernel("--SafeKernel.timeout=60", runtime=runtime)
    try:
        k.run("crash_lost = 1")
        msg_id = k.kc.execute(k.pick(FOREVER))
        zygote = next(p for p in k.tree() if p.ppid() == k.pid)
        time.sleep(1.0)
        started = time.monotonic()
        # the session's worker is the busy one (the spare idles)
        max(zygote.children(), key=lambda p: p.cpu_times().user).kill()
        reply = k.kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert time.monotonic() - started < 10
        assert reply["content"]["ename"] == "WorkerCrashed"
        assert "earlier variables are gone" in reply["content"]["evalue"]
        assert not k.defined("crash_lost")
        assert k.run("6 * 7").result == "42"
        assert psutil.pid_exists(k.pid)
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []
