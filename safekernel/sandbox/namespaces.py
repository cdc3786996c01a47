"""Layer 2: no network. The worker moves into a new, empty network namespace (only a loopback
that is down), so even a socket that got past seccomp reaches nothing.

As root, CLONE_NEWNET alone is enough; an unprivileged process first needs a user namespace of
its own (CLONE_NEWUSER), which must be done while the process is still single-threaded.
"""

from __future__ import annotations

import ctypes
import errno
import os

from safekernel.sandbox.report import LayerState, LayerStatus

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> int:
    """Return 0 or the errno (Python 3.11 has no os.unshare)."""
    if _libc.unshare(flags) == 0:
        return 0
    return ctypes.get_errno()


def leave_network() -> LayerStatus:
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    err = _unshare(flags)
    if err == 0:
        how = "new network namespace" + ("" if os.geteuid() == 0 else " (in a user namespace)")
        return LayerStatus("network", LayerState.ACTIVE, how)
    if err in (errno.EPERM, errno.EINVAL, errno.ENOSPC, errno.EUSERS):
        return LayerStatus(
            "network",
            LayerState.UNAVAILABLE,
            f"cannot create a network namespace here ({errno.errorcode.get(err, err)}); "
            "unprivileged user namespaces may be disabled",
        )
    return LayerStatus("network", LayerState.FAILED, f"unshare failed: {os.strerror(err)}")
