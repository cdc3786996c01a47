"""Jupyter servers the tests start on 127.0.0.1 (JupyterLab for the browser test, the kernel
gateways): one free port, one isolated set of Jupyter directories, one way to start a server,
wait until it answers, and stop it leaving no process behind."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from safekernel.kernel.zygote import cache_dir
from tests.conftest import process_tree, wait_gone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing(what: str) -> None:
    """A tool a server test needs is not installed: skip loudly, or fail under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"this test needs {what} (CI installs it: .ci/run)")
    pytest.skip(f"SKIPPED LOUDLY: this test needs {what}")


def jupyter_env(home: Path, kernelspec_prefix: Path) -> dict[str, str]:
    """The environment of a server whose every Jupyter directory is under `home`, and whose
    kernelspecs are the ones the session installed (tests/conftest.py), none of the user's.
    Its kernels use the machine's compiled guests (`install` made them), not a cache of their
    own under `home`: compiling the python guest there takes longer than a zygote may take to
    answer its first spawn (the kernel then replaces it, again and again)."""
    return {
        **os.environ,
        "SAFEKERNEL_CACHE_DIR": cache_dir(),
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_PATH": str(kernelspec_prefix / "share" / "jupyter"),
        "JUPYTER_CONFIG_PATH": str(home / "config"),
    }


@contextlib.contextmanager
def serve(
    command: list[str],
    env: dict[str, str],
    log_path: Path,
    answers: Callable[[], object],
    timeout: float,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (its output to `log_path`) until `answers()` stops raising OSError;
    on exit, stop it and everything it started (its kernels, their zygotes and workers)."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            try:
                answers()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"{command[:3]} did not start; its log: {log_path}")
                time.sleep(0.3)
        try:
            yield process
        finally:
            procs = process_tree(process.pid)
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            # the server shuts its kernels down on exit: no kernel, zygote or worker is left
            assert wait_gone(procs) == []
