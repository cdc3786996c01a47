"""Layer 2: no network. The worker moves into a new, empty network namespace (only a loopback
that is down), so even a socket that got past seccomp reaches nothing.

As root, CLONE_NEWNET alone is enough; an unprivileged process first needs a user namespace of
its own (CLONE_NEWUSER), which must be done while the process is still single-threaded. In that
user namespace the worker maps its own uid and gid to themselves (one id each, setgroups
denied), so what it reports about itself is what the host sees: without a map it would read
back 65534, the overflow id, while the host still knows it as the kernel's user.

One namespace per kernel: the zygote calls `prepare_network()` once at its start (it is
single-threaded then, and needs no network: it talks to the kernel over an inherited unix
socketpair and hands out unix socketpairs, which need none), so its workers start inside it and
only check that they are (one stat) instead of each making and tearing down a namespace of its
own (~0.6 ms of a worker's start plus the kernel's teardown work). The namespace has no
interface up, not even loopback, and is the zygote's alone: the host's and other kernels' are
out of reach. Workers of one kernel share it; what they could do with that needs a socket,
which seccomp refuses (see SECURITY.md, "One network namespace per kernel"). A process that
no zygote prepared (the bypassed-worker test fixture) makes its own, as before.

Classification (see sandbox/__init__.py): EPERM, EINVAL, ENOSPC and EUSERS from unshare mean
the host does not let this process make the namespace (no CAP_SYS_ADMIN as root in a
container, unprivileged user namespaces switched off by sysctl or AppArmor, the namespace
count limit reached): UNAVAILABLE, with why; seccomp still refuses socket() and Landlock TCP.
Any other errno is unexpected: FAILED. The id map cannot fail for a namespace this process
just made, except without /proc: the layer is still active then, and says the ids are unmapped.
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


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _map_own_ids(uid: int, gid: int) -> str:
    """Map uid and gid to themselves in the new user namespace; "" or why it could not."""
    try:
        # an unprivileged process may write its gid_map only once setgroups is denied
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        return f"ids unmapped: {exc.strerror}"
    return ""


_NET_NS = "/proc/self/ns/net"
#: set by prepare_network() in the zygote: the namespace its workers must be in (inode and
#: what made it), or why there is none; inherited by every worker it forks
_prepared: tuple[int, str] | LayerStatus | None = None
#: the zygote's uid and gid as the host sees them, taken before its user namespace existed
_host_ids: tuple[int, int] | None = None


def host_ids() -> tuple[int, int]:
    """This process's uid and gid as the host sees them (a user namespace may show others)."""
    return _host_ids or (os.getuid(), os.getgid())


def prepare_network() -> None:
    """Make the network namespace (and, when not root, the user namespace) the zygote's
    workers will share. Call once, while the process is single-threaded."""
    global _prepared, _host_ids  # noqa: PLW0603 -- once per zygote, inherited by its workers
    _host_ids = (os.getuid(), os.getgid())
    status = _unshare_network()
    _prepared = (os.stat(_NET_NS).st_ino, status.detail) if status.active else status


def leave_network() -> LayerStatus:
    """The worker's network layer: in the zygote's namespace, or in one of its own."""
    prepared = _prepared
    if prepared is None:
        return _unshare_network()
    if isinstance(prepared, LayerStatus):
        # the zygote could not make one; a worker has the same rights, so neither can it
        return prepared
    inode, detail = prepared
    if os.stat(_NET_NS).st_ino != inode:
        return LayerStatus("network", LayerState.FAILED, "not in the zygote's network namespace")
    return LayerStatus("network", LayerState.ACTIVE, f"{detail}, one per kernel (its zygote's)")


def _unshare_network() -> LayerStatus:
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET if root else CLONE_NEWUSER | CLONE_NEWNET
    err = _unshare(flags)
    if err == 0:
        if root:
            return LayerStatus("network", LayerState.ACTIVE, "new network namespace")
        unmapped = _map_own_ids(uid, gid)
        mapping = unmapped or f"uid {uid} and gid {gid} mapped to themselves"
        return LayerStatus(
            "network", LayerState.ACTIVE, f"new network namespace (in a user namespace, {mapping})"
        )
    if err in (errno.EPERM, errno.EINVAL, errno.ENOSPC, errno.EUSERS):
        # the usual causes, for the reader of %sandbox: a container's seccomp profile (Docker's
        # and containerd's defaults refuse unshare without CAP_SYS_ADMIN), a root without
        # CAP_SYS_ADMIN, or a host that switched unprivileged user namespaces off
        why = (
            "root without CAP_SYS_ADMIN, or a seccomp profile that refuses unshare "
            "(a container's default)"
            if root
            else "unprivileged user namespaces are off on this host, or a seccomp profile "
            "refuses unshare (a container's default)"
        )
        return LayerStatus(
            "network",
            LayerState.UNAVAILABLE,
            f"cannot create a network namespace here ({errno.errorcode.get(err, err)}): {why}",
        )
    return LayerStatus("network", LayerState.FAILED, f"unshare failed: {os.strerror(err)}")
