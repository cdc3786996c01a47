"""Layer 1: a clean process. Close every inherited fd but the channel, clear the environment,
leave the zygote's process group, and die with the zygote.

Defends against: a worker reading a descriptor or secret it inherited by accident (the
connection file, the kernel's key in an environment variable, the zygote's control socket).
Every step here works on any Linux, so any error is FAILED (the worker ends).
"""

from __future__ import annotations

import ctypes
import os
import signal

from safekernel.sandbox.report import LayerState, LayerStatus

PR_SET_PDEATHSIG = 1
#: above any descriptor a zygote can have inherited (its RLIMIT_NOFILE is far lower)
MAX_FD = 1 << 16
_libc = ctypes.CDLL(None, use_errno=True)


def clean_process(keep_fd: int, until_landlock: int | None = None) -> LayerStatus:
    """Keep only `keep_fd` and /dev/null on 0-2; clear the environment; own process group.

    `until_landlock` is the zygote's Landlock ruleset fd, kept only for the Landlock layer,
    which restricts the worker with it and closes it (see landlock.prepare_landlock)."""
    # stdio on /dev/null, so a stray write from the interpreter can never land on the channel
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        if target != keep_fd:
            os.dup2(devnull, target)
    # everything else goes, /dev/null's own descriptor included
    start = 3
    for kept in sorted({keep_fd, until_landlock or keep_fd}):
        if kept >= start:
            os.closerange(start, kept)
            start = kept + 1
    os.closerange(start, MAX_FD)
    os.environ.clear()
    os.setpgid(0, 0)
    # a worker must not outlive its zygote, and the zygote not its kernel
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return LayerStatus("process", LayerState.FAILED, "cannot set the parent-death signal")
    return LayerStatus(
        "process", LayerState.ACTIVE, "inherited fds closed, environment cleared, own group"
    )
