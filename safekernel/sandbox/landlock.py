"""Landlock layer: the worker gets no filesystem access, except reading configured data dirs.

`apply_landlock` asks the kernel for its Landlock ABI and builds a ruleset that *handles* every
access right that ABI knows, so any right without a rule is denied:

* filesystem (ABI 1-5): execute, read, write, truncate, create/remove/rename, device ioctls;
  each directory in `read_only_dirs` gets a read-file/read-dir rule beneath it, nothing more;
* network (ABI >= 4): TCP bind and connect, with no port rule, so both are denied;
* scopes (ABI >= 6): connecting to abstract unix sockets and sending signals outside the
  worker's own Landlock domain (the kernel, the zygote, other workers) are denied.

The ruleset is built once per zygote by `prepare_landlock` (ABI query, dir fds, rules) and its
fd inherited by the workers: the process layer keeps that one fd besides the channel, and a
worker only checks the data dirs are still the ones the rules name (one stat each), restricts
itself with it and closes it before any cell runs (seccomp would refuse landlock_add_rule
anyway). A worker for which nothing was prepared builds its own, as before.

Landlock restricts the calling thread and the threads it creates afterwards. Before ABI 8
(`LANDLOCK_RESTRICT_SELF_TSYNC`) threads that already exist stay unrestricted, so on those
kernels this layer refuses to run in a multi-threaded process: apply it before starting
threads.

What it does not defend: fds opened before the restriction keep working (the worker closes
them first); `stat`, `chdir` and path lookups are not access rights, so file metadata stays
visible to Landlock (seccomp refuses those calls); UDP and other socket families are not
covered (the network namespace and seccomp's refusal of socket() are); rights added by ABIs
newer than this module knows (e.g. ABI 9 pathname unix sockets) are left unhandled.

Classification (see sandbox/__init__.py): UNAVAILABLE only where the host lacks Landlock: an
architecture without the syscalls, ENOSYS (kernel older than 5.13 or built without it),
EOPNOTSUPP (built in but not enabled by lsm=). Everything else is FAILED and ends the worker:
an unexpected errno from the ABI query or the ruleset calls, a configured data dir that cannot
be opened (a wrong option must not silently become "no data dir" or "no Landlock"), and a
threaded process on an ABI that would leave threads unrestricted (a bug in the caller).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from safekernel.sandbox.privileges import set_no_new_privs
from safekernel.sandbox.report import LayerState, LayerStatus

_LAYER = "landlock"

# Syscall numbers: the same on x86_64 and aarch64 (both allocate new calls from one table).
_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_SUPPORTED_MACHINES = frozenset({"x86_64", "aarch64"})

_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RESTRICT_SELF_TSYNC = 1 << 3  # ABI 8: restrict every thread of the process atomically

# Filesystem rights (<linux/landlock.h>), grouped by the ABI that introduced them.
_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_ABI_1 = (1 << 13) - 1  # execute .. make_sym: bits 0-12
_FS_REFER = 1 << 13  # ABI 2: link/rename across directories
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6

# The ABI that introduced each feature used here.
_ABI_REFER = 2
_ABI_TRUNCATE = 3
_ABI_NETWORK = 4
_ABI_IOCTL_DEV = 5
_ABI_SCOPES = 6
_ABI_TSYNC = 8
# The highest ABI whose rights this module handles; newer kernels are used at this level.
_NEWEST_KNOWN_ABI = 8

_READ_ONLY_RIGHTS = _FS_READ_FILE | _FS_READ_DIR


class _RulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr; older kernels accept it whole as long as the fields they
    do not know are zero."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel struct is __attribute__((packed)): 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    """Raw syscall; raise OSError with the kernel's errno on failure."""
    result: int = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


# --- what the running kernel supports -----------------------------------------------------


def _abi_version() -> int | LayerStatus:
    """The kernel's Landlock ABI, or the status explaining why there is none."""
    if platform.machine() not in _SUPPORTED_MACHINES:
        return LayerStatus(_LAYER, LayerState.UNAVAILABLE, f"unsupported arch {platform.machine()}")
    try:
        return _syscall(
            _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
        )
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return LayerStatus(
                _LAYER, LayerState.UNAVAILABLE, "kernel has no Landlock (needs Linux >= 5.13)"
            )
        if exc.errno == errno.EOPNOTSUPP:
            return LayerStatus(
                _LAYER,
                LayerState.UNAVAILABLE,
                "Landlock is disabled: add it to the lsm= boot parameter",
            )
        return LayerStatus(_LAYER, LayerState.FAILED, f"ABI query failed: {exc.strerror}")


def _handled_fs(abi: int) -> int:
    rights = _FS_ABI_1
    if abi >= _ABI_REFER:
        rights |= _FS_REFER
    if abi >= _ABI_TRUNCATE:
        rights |= _FS_TRUNCATE
    if abi >= _ABI_IOCTL_DEV:
        rights |= _FS_IOCTL_DEV
    return rights


def _ruleset_attr(abi: int) -> _RulesetAttr:
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= _ABI_NETWORK else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= _ABI_SCOPES else 0
    return _RulesetAttr(_handled_fs(abi), net, scoped)


def _describe(abi: int, read_only_dirs: Sequence[str]) -> str:
    level = f"ABI {abi}" if abi <= _NEWEST_KNOWN_ABI else f"ABI {abi}, used as {_NEWEST_KNOWN_ABI}"
    files = f"read-only {', '.join(read_only_dirs)}" if read_only_dirs else "no file access"
    parts = [level, files]
    parts.append("TCP bind/connect denied" if abi >= _ABI_NETWORK else "TCP not covered")
    parts.append("signals/abstract sockets scoped" if abi >= _ABI_SCOPES else "no IPC scoping")
    return "; ".join(parts)


def _thread_count() -> int:
    """Kernel threads of this process; /proc may be missing, then trust Python's count."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


# --- building and enforcing the ruleset ---------------------------------------------------


class _DirError(Exception):
    """A configured read-only dir cannot be used; the message says which and why."""


@contextmanager
def _opened_dirs(paths: Sequence[str]) -> Iterator[list[int]]:
    """O_PATH fds for the read-only dirs, opened before the restriction removes access."""
    with ExitStack() as stack:
        fds = []
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise _DirError(
                    f"read-only dir {path} does not exist: create it or fix the option"
                ) from None
            except NotADirectoryError:
                raise _DirError(f"read-only dir {path} is not a directory") from None
            except OSError as exc:
                raise _DirError(f"cannot open read-only dir {path}: {exc.strerror}") from None
            stack.callback(os.close, fd)
            fds.append(fd)
        yield fds


def _create_ruleset(abi: int) -> int:
    attr = _ruleset_attr(abi)
    return _syscall(
        _SYS_CREATE_RULESET,
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
        ctypes.c_uint32(0),
    )


def _add_read_only_rule(ruleset_fd: int, dir_fd: int) -> None:
    rule = _PathBeneathAttr(_READ_ONLY_RIGHTS, dir_fd)
    _syscall(
        _SYS_ADD_RULE,
        ctypes.c_int(ruleset_fd),
        ctypes.c_int(_RULE_PATH_BENEATH),
        ctypes.byref(rule),
        ctypes.c_uint32(0),
    )


def _restrict(abi: int, ruleset_fd: int) -> None:
    flags = _RESTRICT_SELF_TSYNC if abi >= _ABI_TSYNC else 0
    _syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset_fd), ctypes.c_uint32(flags))


def _enforce(abi: int, dir_fds: list[int]) -> None:
    ruleset_fd = _create_ruleset(abi)
    try:
        for dir_fd in dir_fds:
            _add_read_only_rule(ruleset_fd, dir_fd)
        _restrict(abi, ruleset_fd)
    finally:
        os.close(ruleset_fd)


@dataclass
class _Ruleset:
    """A ruleset built in the zygote for `dirs`: its fd, and which directories its rules name."""

    dirs: tuple[str, ...]
    abi: int
    fd: int
    ids: tuple[tuple[int, int], ...]


_FIRST_FREE_FD = 3
#: the ruleset prepare_landlock() built (in the zygote; each worker inherits the fd)
_prepared: _Ruleset | None = None


def prepare_landlock(read_only_dirs: Sequence[str] = ()) -> None:
    """Build the ruleset for `read_only_dirs` once, in the zygote (which stays unrestricted).

    Nothing is kept when the host has no Landlock or a dir cannot be opened: each worker then
    tries itself and reports exactly why it could not (as UNAVAILABLE or FAILED).
    """
    global _prepared  # noqa: PLW0603 -- one ruleset per zygote, inherited by its workers
    dirs = tuple(read_only_dirs)
    if _prepared is not None:
        if _prepared.dirs == dirs:
            return
        os.close(_prepared.fd)
        _prepared = None
    abi = _abi_version()
    if isinstance(abi, LayerStatus):
        return
    try:
        with _opened_dirs(dirs) as dir_fds:
            ids = tuple((st.st_dev, st.st_ino) for st in map(os.fstat, dir_fds))
            ruleset_fd = _create_ruleset(abi)
            try:
                for dir_fd in dir_fds:
                    _add_read_only_rule(ruleset_fd, dir_fd)
            except OSError:
                os.close(ruleset_fd)
                raise
    except (_DirError, OSError):
        return
    if ruleset_fd < _FIRST_FREE_FD:
        # never on 0-2 (possible only if the zygote's stdio was closed): the process layer
        # points those at /dev/null in every worker, which would replace the ruleset
        moved = fcntl.fcntl(ruleset_fd, fcntl.F_DUPFD_CLOEXEC, _FIRST_FREE_FD)
        os.close(ruleset_fd)
        ruleset_fd = moved
    _prepared = _Ruleset(dirs, abi, ruleset_fd, ids)


def prepared_fd(read_only_dirs: Sequence[str] = ()) -> int | None:
    """The inherited ruleset fd a worker must keep open until Landlock is applied, if any."""
    prepared = _prepared
    return prepared.fd if prepared is not None and prepared.dirs == tuple(read_only_dirs) else None


def _same_dirs(prepared: _Ruleset) -> bool:
    """True if every data dir is still the directory the prepared rules name; a dir that is
    gone or was replaced since sends the worker down the path that says why, or rebuilds."""
    for path, expected in zip(prepared.dirs, prepared.ids, strict=True):
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != expected:
            return False
    return True


def _take_prepared(read_only_dirs: Sequence[str]) -> _Ruleset | None:
    """This process's copy of the prepared ruleset, now or never: the fd is closed by the
    caller once used, and no later call may see it."""
    global _prepared  # the worker's own copy of the zygote's global
    prepared, _prepared = _prepared, None
    if prepared is None:
        return None
    if prepared.dirs != tuple(read_only_dirs) or not _same_dirs(prepared):
        os.close(prepared.fd)
        return None
    return prepared


def apply_landlock(read_only_dirs: Sequence[str] = ()) -> LayerStatus:
    """Restrict the calling process to no file access but reads beneath `read_only_dirs`."""
    prepared = _take_prepared(read_only_dirs)
    try:
        return _apply(read_only_dirs, prepared)
    finally:
        if prepared is not None:
            os.close(prepared.fd)


def _apply(read_only_dirs: Sequence[str], prepared: _Ruleset | None) -> LayerStatus:
    abi = prepared.abi if prepared is not None else _abi_version()
    if isinstance(abi, LayerStatus):
        return abi
    if abi < _ABI_TSYNC and _thread_count() > 1:
        return LayerStatus(
            _LAYER,
            LayerState.FAILED,
            f"ABI {abi} restricts only the calling thread: apply it before starting threads",
        )
    # Unprivileged processes may only restrict themselves under no_new_privs.
    nnp = set_no_new_privs()
    if not nnp.active:
        return LayerStatus(_LAYER, nnp.state, f"needs no_new_privs: {nnp.detail}")
    try:
        if prepared is not None:
            _restrict(abi, prepared.fd)
        else:
            with _opened_dirs(read_only_dirs) as dir_fds:
                _enforce(abi, dir_fds)
    except _DirError as exc:
        return LayerStatus(_LAYER, LayerState.FAILED, str(exc))
    except OSError as exc:
        return LayerStatus(_LAYER, LayerState.FAILED, f"ruleset refused: {exc.strerror}")
    return LayerStatus(_LAYER, LayerState.ACTIVE, _describe(abi, read_only_dirs))
