"""What start-up speed, memory and cell-isolation latency rest on: the zygote is started before
the kernel's imports (and still holds no secret), the worker side stays free of asyncio,
kernel_info does not drag in ipykernel's debugger, cell isolation keeps one more spare, and
workers start from the zygote's runtime state yet each draws its own random numbers."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from jupyter_client.manager import KernelManager

from safekernel.kernel import zygote as launch
from tests.conftest import (
    KERNEL_NAME,
    Kernel,
    process_tree,
    start_kernel,
    wait_for,
    wait_gone,
    zygotes,
)

REPO = Path(__file__).resolve().parent.parent


def _zygote_of(k: Kernel) -> psutil.Process:
    zygotes = [
        p
        for p in psutil.Process(k.pid).children()
        if "safekernel.worker.zygote" in " ".join(p.cmdline())
    ]
    assert len(zygotes) == 1
    return zygotes[0]


def test_worker_side_imports_no_asyncio_ipykernel_or_zmq() -> None:
    code = (
        "import sys, safekernel.worker.zygote, safekernel.runtimes.lua\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'asyncio', 'ipykernel', 'zmq', 'IPython', 'jupyter_client'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


def test_prestarted_zygote_is_the_kernels_child_and_holds_no_secret() -> None:
    k = start_kernel()
    try:
        k.run("x = 1")
        zygote = _zygote_of(k)
        connection_file = k.km.connection_file
        # the parent-death signal ties it to the kernel; exec gave it a minimal environment
        assert zygote.ppid() == k.pid
        # SAFEKERNEL_CACHE_DIR: where compiled guest code is cached, a path
        assert set(zygote.environ()) <= {"PATH", "LANG", "PYTHONPATH", "SAFEKERNEL_CACHE_DIR"}
        assert connection_file not in " ".join(zygote.cmdline())
        paths = [f.path for f in zygote.open_files()]
        assert connection_file not in paths
        assert not any(p.endswith(".json") for p in paths)
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_kernel_info_does_not_advertise_a_debugger() -> None:
    k = start_kernel()
    try:
        reply = k.kc.kernel_info(reply=True, timeout=30)
        assert "debugger" not in reply["content"]["supported_features"]
        assert reply["content"]["implementation"] == "safekernel"
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_kernel_info_is_answered_once_iopub_has_a_subscriber() -> None:
    """A client that sends its first cell as soon as kernel_info is answered (jupyter_console
    does) must get that cell's output and its `status: idle`: the kernel answers kernel_info
    only once a client listens on IOPub, whose messages before that are dropped (the console
    then waited for the idle for ever). Here the client's IOPub connects only after its
    kernel_info request has reached a kernel that is up (its pool is forking workers)."""
    km = KernelManager(kernel_name=KERNEL_NAME)
    km.start_kernel()
    kc = km.client()
    try:
        assert wait_for(lambda: any(p.children() for p in zygotes(km.provisioner.pid)), 60)
        kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        request = kc.kernel_info()
        with pytest.raises(queue.Empty):
            kc.get_shell_msg(timeout=1.0)  # nobody listens on IOPub yet
        kc.start_channels(shell=False, iopub=True, stdin=False, hb=False, control=False)
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == request
        cell = kc.execute("6 * 7")
        seen = []
        while not seen or seen[-1] != ("status", "idle"):
            msg = kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == cell:
                content = msg["content"]
                what = content.get("execution_state") or content.get("data", {}).get("text/plain")
                seen.append((msg["msg_type"], what))
        assert seen == [
            ("status", "busy"),
            ("execute_input", None),
            ("execute_result", "42"),
            ("status", "idle"),
        ]
    finally:
        procs = process_tree(km.provisioner.pid)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert wait_gone(procs) == []


def test_a_prestarted_zygote_is_handed_over_once_and_only_for_its_runtime() -> None:
    launch.prestart("lua")
    taken = launch.take_prestarted("lua")
    try:
        assert taken is not None
        assert taken.process.poll() is None
        assert launch.take_prestarted("lua") is None
    finally:
        if taken is not None:
            taken.abandon()
    assert taken.process.wait(5) == 0  # EOF on its control socket: it exits by itself

    launch.prestart("lua")
    other = launch.take_prestarted("wasm")
    assert other is None
    assert launch.take_prestarted("lua") is None


def _ready_workers(k: Kernel) -> int:
    """Live workers under the kernel's zygote (killed ones linger as zombies until reaped)."""
    zygote = _zygote_of(k)
    return sum(1 for p in zygote.children() if p.status() != psutil.STATUS_ZOMBIE)


def _settled_workers(*options: str) -> int:
    k = start_kernel("--SafeKernel.pool_size=1", *options)
    try:
        assert k.run("x = 1").status == "ok"
        counts = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (len(counts) < 5 or len(set(counts[-5:])) > 1):
            counts.append(_ready_workers(k))
            time.sleep(0.1)
        return counts[-1]
    finally:
        procs = k.tree()
        k.shutdown()
        assert wait_gone(procs) == []


def test_cell_isolation_keeps_one_more_spare_than_session_isolation() -> None:
    # a cell-isolated cell uses its worker up, where the session's worker is kept
    session = _settled_workers("--SafeKernel.isolation=session")
    cell = _settled_workers("--SafeKernel.isolation=cell")
    assert cell == session + 1


def test_workers_copied_from_the_zygotes_template_draw_different_random_numbers() -> None:
    k = start_kernel("--SafeKernel.isolation=cell")
    try:
        draws = {k.run("math.random(1, 2^40)").result for _ in range(4)}
        assert None not in draws
        assert len(draws) == 4
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []
