"""Interrupt through both of Jupyter's paths: the message (interrupt_request on the control
channel) and the signal (SIGINT to the kernel process). A loop stops with its state kept; a
cell stuck inside a C function is stopped by replacing its worker. Lua cells on the lua and
wasm runtimes, Python cells on the python runtime."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

from safekernel.runtimes import registry
from tests.conftest import (
    ALL_RUNTIMES,
    FOREVER,
    LANGUAGE,
    STUCK_IN_C,
    ByLang,
    CellRun,
    Kernel,
    quoted,
    wait_gone,
)

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES


def run_interrupted(
    kernel: Kernel, code: str | ByLang[str], interrupt: Callable[[], None]
) -> CellRun:
    """Run `code` after a print, and call `interrupt` once that print has reached us."""
    started = threading.Event()
    outputs: list[dict[str, Any]] = []

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            started.set()
        if msg["msg_type"] not in ("status", "execute_input"):
            outputs.append(msg)

    def fire() -> None:
        if started.wait(30):
            time.sleep(0.2)  # well into the loop
            interrupt()

    thread = threading.Thread(target=fire)
    thread.start()
    lines = kernel.pick(code).split("\n")
    magics = [line for line in lines if line.startswith("%")]
    body = [line for line in lines if not line.startswith("%")]
    cell = "\n".join([*magics, "print('started')", *body])
    reply = kernel.kc.execute_interactive(cell, output_hook=keep, timeout=60)
    thread.join()
    return CellRun(reply, outputs)


@pytest.fixture(scope="module")
def signal_kernel_name(runtime: str) -> Iterator[str]:
    """The runtime's kernelspec, installed again with interrupt_mode "signal"."""
    ksm = KernelSpecManager()
    source = Path(ksm.get_kernel_spec(registry.get(runtime).kernelspec_name).resource_dir)
    target = source.parent / "safe-signal"
    shutil.copytree(source, target, dirs_exist_ok=True)
    spec = json.loads((target / "kernel.json").read_text())
    spec["interrupt_mode"] = "signal"
    (target / "kernel.json").write_text(json.dumps(spec))
    yield "safe-signal"
    shutil.rmtree(target, ignore_errors=True)


def test_interrupt_message_stops_a_busy_loop_and_keeps_variables(kernel: Kernel) -> None:
    kernel.run("kept_by_message = 'yes'")
    run = run_interrupted(kernel, FOREVER, kernel.km.interrupt_kernel)
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    assert "variables are kept" in run.error["evalue"]
    assert kernel.run("kept_by_message").result == kernel.pick(quoted("yes"))


def test_sigint_to_the_kernel_stops_a_busy_loop_and_keeps_variables(kernel: Kernel) -> None:
    kernel.run("kept_by_signal = 'yes'")
    run = run_interrupted(kernel, FOREVER, lambda: os.kill(kernel.pid, signal.SIGINT))
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    assert kernel.run("kept_by_signal").result == kernel.pick(quoted("yes"))
    # the kernel itself ignored the signal as a reason to stop
    assert kernel.km.is_alive()


def test_signal_interrupt_mode_kernelspec_stops_a_busy_loop(
    signal_kernel_name: str, runtime: str
) -> None:
    km, kc = start_new_kernel(kernel_name=signal_kernel_name)
    k = Kernel(km, kc, LANGUAGE[runtime])
    try:
        assert km.kernel_spec is not None
        assert km.kernel_spec.interrupt_mode == "signal"
        k.run("kept_in_signal_mode = 3")
        # jupyter_client sends SIGINT to the kernel's process group here
        run = run_interrupted(k, FOREVER, km.interrupt_kernel)
        assert run.error is not None
        assert run.error["ename"] == "KeyboardInterrupt"
        assert k.run("kept_in_signal_mode * 2").result == "6"
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_pcall_cannot_swallow_an_interrupt(kernel: Kernel) -> None:
    code = ByLang(
        "while true do pcall(function() while true do end end) end",
        "while True:\n    try:\n        while True: pass\n    except KeyboardInterrupt:\n"
        "        pass",
    )
    run = run_interrupted(kernel, code, kernel.km.interrupt_kernel)
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"


def test_interrupting_a_cell_stuck_in_c_replaces_the_worker(kernel: Kernel) -> None:
    kernel.run("lost_on_interrupt = 1")
    run = run_interrupted(kernel, "%timeout 60\n" + STUCK_IN_C, kernel.km.interrupt_kernel)
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    assert "earlier variables are gone" in run.error["evalue"]
    assert not kernel.defined("lost_on_interrupt")
    assert kernel.run("1 + 1").result == "2"


def test_interrupt_between_cells_changes_nothing(kernel: Kernel) -> None:
    kernel.run("idle_value = 9")
    kernel.km.interrupt_kernel()
    os.kill(kernel.pid, signal.SIGINT)
    time.sleep(0.2)
    assert kernel.run("idle_value").result == "9"


def test_restart_gives_a_fresh_worker(fresh_kernel: Kernel) -> None:
    fresh_kernel.run("before = 1")
    old_workers = {p.pid for p in fresh_kernel.tree()[1:]}
    fresh_kernel.km.restart_kernel(now=False)
    fresh_kernel.kc.wait_for_ready(timeout=60)
    assert not fresh_kernel.defined("before")
    assert not old_workers & {p.pid for p in fresh_kernel.tree()[1:]}
