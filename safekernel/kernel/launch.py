"""Starting the zygote: a fresh interpreter by exec, holding no secret and no descriptor but its
control socket.

`python -m safekernel` calls `prestart()` first thing, before it imports ipykernel: the kernel's
own imports take ~0.45 s on this machine (IPython most of it) and the zygote's start (interpreter
and lupa) ~0.1 s, so starting the zygote first lets the two run side by side on two cores
instead of one after the other. The pool then takes that zygote with `take_prestarted()`, and
starts a new one itself whenever it needs another.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class ZygoteLaunch:
    """A started zygote process and the kernel's end of its control socket."""

    runtime: str
    process: subprocess.Popen[bytes]
    control: socket.socket

    def abandon(self) -> None:
        """Close the control socket: the zygote reads EOF and exits."""
        self.control.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1.0)


def start_zygote(runtime: str) -> ZygoteLaunch:
    """Start `python -m safekernel.worker.zygote FD RUNTIME`. Call it from the kernel's main thread:
    the zygote's parent-death signal follows the thread that created it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # only what the zygote needs to find the package: no key, no connection file
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    # SAFEKERNEL_TEST_FAIL_LAYER: set only by tests, in the kernel's own environment (see
    # sandbox.inject_failure: it can only make workers end before they serve)
    for name in ("PYTHONPATH", "SAFEKERNEL_TEST_FAIL_LAYER"):
        if name in os.environ:
            env[name] = os.environ[name]
    process = subprocess.Popen(
        [sys.executable, "-m", "safekernel.worker.zygote", str(theirs.fileno()), runtime],
        pass_fds=(theirs.fileno(),),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    theirs.close()
    return ZygoteLaunch(runtime, process, ours)


_prestarted: ZygoteLaunch | None = None


def prestart(runtime: str) -> None:
    """Start the zygote now, for the pool to take later (see the module's docstring)."""
    global _prestarted  # noqa: PLW0603 -- one zygote handed from __main__ to the pool, once
    _prestarted = start_zygote(runtime)


def take_prestarted(runtime: str) -> ZygoteLaunch | None:
    """The prestarted zygote for `runtime`, once; None if there is none (or for another one)."""
    global _prestarted
    launch, _prestarted = _prestarted, None
    if launch is not None and (launch.runtime != runtime or launch.process.poll() is not None):
        launch.abandon()
        return None
    return launch
