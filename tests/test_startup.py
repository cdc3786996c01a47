"""What start-up speed and memory rest on: the zygote is started before the kernel's imports
(and still holds no secret), the worker side stays free of asyncio, and kernel_info does not
drag in ipykernel's debugger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

from safekernel import launch
from tests.conftest import Kernel, start_kernel, wait_gone

REPO = Path(__file__).resolve().parent.parent


def _zygote_of(k: Kernel) -> psutil.Process:
    zygotes = [
        p for p in psutil.Process(k.pid).children() if "safekernel.zygote" in " ".join(p.cmdline())
    ]
    assert len(zygotes) == 1
    return zygotes[0]


def test_worker_side_imports_no_asyncio_ipykernel_or_zmq() -> None:
    code = (
        "import sys, safekernel.zygote, safekernel.runtimes.lua\n"
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
        assert set(zygote.environ()) <= {"PATH", "LANG", "PYTHONPATH"}
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
