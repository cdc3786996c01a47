"""Privilege layers: leave root behind, and make the worker useless as a stepping stone.

`drop_privileges` switches a root worker to an unprivileged uid/gid (nobody/nogroup by default,
chosen by the caller), empties every capability set, including the bounding and ambient sets,
and then proves it cannot get back: `setuid(0)` must fail and `capget` must report nothing. A
worker that is not root keeps its uid; the capabilities it holds as owner of its own user
namespace (made by the network layer) are cleared too, the bounding set included, and its
report gives the uid the host sees.

`set_no_new_privs` stops any later `execve` from gaining privilege (setuid binaries, file
capabilities) and is what lets an unprivileged process install Landlock and seccomp.
`set_not_dumpable` stops same-uid processes, such as other workers running as nobody, from
ptracing this one or reading its memory through /proc, and disables core dumps.

What these layers do not defend: the worker still runs as a real uid, so files that uid (or
"other") may read stay readable until Landlock removes file access; several workers share the
same uid, which is why dumpable=0, Landlock signal scoping and seccomp's rule on kill keep them
apart; and nothing here limits CPU, memory or the kernel attack surface (rlimits and seccomp).
"""

from __future__ import annotations

import ctypes
import errno
import os

from safekernel.sandbox.report import LayerState, LayerStatus

# prctl(2) options, from <linux/prctl.h>.
_PR_GET_DUMPABLE = 3
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_GET_NO_NEW_PRIVS = 39
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4

# capget/capset use two 32-bit words per set since version 3 (64 capabilities).
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAPABILITY_WORDS = 2
# Upper bound when probing the bounding set; the kernel answers EINVAL past its last capability.
_MAX_CAPABILITIES = 64

_ROOT_ID = 0
_CAP_SETPCAP = 8


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_CapDataArray = _CapData * _CAPABILITY_WORDS

_libc = ctypes.CDLL(None, use_errno=True)
_prctl_fn = _libc.prctl
_prctl_fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl_fn.restype = ctypes.c_int


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    """Call prctl(2); raise OSError with the real errno on failure."""
    result: int = _prctl_fn(option, arg2, arg3, 0, 0)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


# --- no_new_privs and dumpable ------------------------------------------------------------


def set_no_new_privs() -> LayerStatus:
    """Set PR_SET_NO_NEW_PRIVS (idempotent, irreversible, inherited by every later thread)."""
    name = "no_new_privs"
    try:
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        enabled = _prctl(_PR_GET_NO_NEW_PRIVS) == 1
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            # Kernels before 3.5 do not know the option.
            return LayerStatus(name, LayerState.UNAVAILABLE, "kernel has no PR_SET_NO_NEW_PRIVS")
        return LayerStatus(name, LayerState.FAILED, f"prctl failed: {exc.strerror}")
    if not enabled:
        return LayerStatus(name, LayerState.FAILED, "flag did not stick")
    return LayerStatus(name, LayerState.ACTIVE, "execve can never gain privileges")


def set_not_dumpable() -> LayerStatus:
    """Set PR_SET_DUMPABLE 0: no ptrace or /proc/<pid>/mem from same-uid processes, no core."""
    name = "not_dumpable"
    try:
        _prctl(_PR_SET_DUMPABLE, 0)
        dumpable = _prctl(_PR_GET_DUMPABLE)
    except OSError as exc:
        return LayerStatus(name, LayerState.FAILED, f"prctl failed: {exc.strerror}")
    if dumpable != 0:
        return LayerStatus(name, LayerState.FAILED, f"still dumpable ({dumpable})")
    return LayerStatus(name, LayerState.ACTIVE, "no ptrace attach or core dumps")


# --- capabilities -------------------------------------------------------------------------


def _capget() -> ctypes.Array[_CapData]:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = _CapDataArray()
    if _libc.capget(ctypes.byref(header), data) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"capget: {os.strerror(code)}")
    return data


def _clear_capability_sets() -> None:
    """Empty the effective, permitted and inheritable sets; dropping is always permitted."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    empty = _CapDataArray()
    if _libc.capset(ctypes.byref(header), empty) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"capset: {os.strerror(code)}")


def _holds_capabilities() -> bool:
    return any(word.effective or word.permitted or word.inheritable for word in _capget())


def _probe_capabilities() -> range:
    """Every capability number the running kernel knows, probed without reading /proc."""
    for cap in range(_MAX_CAPABILITIES):
        try:
            _prctl(_PR_CAPBSET_READ, cap)
        except OSError:
            return range(cap)
    return range(_MAX_CAPABILITIES)


#: set by prepare_privileges() in the zygote: the probe is ~40 prctl calls a worker then skips
_known: range | None = None
#: the zygote emptied its own bounding set, so its workers inherit an empty one
_bounding_dropped = False


def prepare_privileges() -> None:
    """Once in the zygote: probe the capability numbers, and empty the zygote's own bounding
    set when it may (root, or owner of its user namespace). The bounding set only limits what
    an execve could gain; the zygote never execs, and it keeps the effective capabilities it
    forks workers with (a root worker still needs CAP_SETUID to become nobody). Its workers
    then inherit an empty set, and only check that it is (see _leftover_capabilities)."""
    global _known, _bounding_dropped  # noqa: PLW0603 -- once per zygote, inherited by workers
    _known = _probe_capabilities()
    if _may_drop_bounding_set():
        for cap in _known:
            _prctl(_PR_CAPBSET_DROP, cap)
        _bounding_dropped = True


def _known_capabilities() -> range:
    return _known if _known is not None else _probe_capabilities()


def _clear_ambient_set() -> None:
    try:
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as exc:
        # Kernels before 4.3 have no ambient set, so there is nothing to clear.
        if exc.errno != errno.EINVAL:
            raise


def _drop_bounding_set() -> None:
    """Empty the bounding set so no later execve (of a file-capability binary) regains a cap.
    Done already if the zygote emptied its own; the caller's check proves it either way."""
    if _bounding_dropped:
        return
    for cap in _known_capabilities():
        _prctl(_PR_CAPBSET_DROP, cap)


def _bounding_set_empty() -> bool:
    return not any(_prctl(_PR_CAPBSET_READ, cap) for cap in _known_capabilities())


def _leftover_capabilities(*, check_bounding: bool) -> str:
    """Name the first capability set that is not empty, or return "".

    The ambient set needs no probe of its own: the kernel keeps it within both the permitted
    and the inheritable set (capabilities(7)), so it is empty once capget shows those empty.
    """
    if _holds_capabilities():
        return "effective/permitted/inheritable capabilities remain"
    if check_bounding and not _bounding_set_empty():
        return "capabilities remain in the bounding set"
    return ""


# --- uid/gid switch -----------------------------------------------------------------------


def _is_root() -> bool:
    return _ROOT_ID in os.getresuid()


def _switch_ids(uid: int, gid: int) -> None:
    """Shed capabilities and become uid/gid. Order matters: the cap and group calls need root."""
    _clear_ambient_set()
    _drop_bounding_set()
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    # Changing all three uids away from 0 also clears the permitted set unless SECBIT_KEEP_CAPS
    # was set; capset below empties it regardless.
    os.setresuid(uid, uid, uid)
    _clear_capability_sets()


def _can_regain_root() -> bool:
    try:
        os.setuid(_ROOT_ID)
    except PermissionError:
        return False
    return True


def _verify_switched(uid: int, gid: int) -> str:
    """Return "" when the process provably cannot act as root any more, else what is wrong."""
    if os.getresuid() != (uid, uid, uid):
        return f"uids are {os.getresuid()}, expected {uid}"
    if os.getresgid() != (gid, gid, gid):
        return f"gids are {os.getresgid()}, expected {gid}"
    if os.getgroups():
        return f"supplementary groups remain: {os.getgroups()}"
    if _can_regain_root():
        return "setuid(0) succeeded after the switch"
    return _leftover_capabilities(check_bounding=True)


def _may_drop_bounding_set() -> bool:
    """PR_CAPBSET_DROP needs CAP_SETPCAP: root has it; a non-root process only in its own
    user namespace (made for the network layer), where it holds every capability."""
    return bool(_capget()[0].effective & (1 << _CAP_SETPCAP))


def _keep_unprivileged_uid(name: str, host_ids: tuple[int, int]) -> LayerStatus:
    """A non-root worker keeps its uid but no capability: in its own user namespace it holds
    every one, and the bounding set is full; it drops them all. The report names the ids the
    host sees (the kernel's), not the ones a user namespace may show inside."""
    host_uid, host_gid = host_ids
    try:
        can_drop = _may_drop_bounding_set()
        if can_drop:
            _drop_bounding_set()
        _clear_ambient_set()
        _clear_capability_sets()
        # a bounding set that could be emptied must be; one that could not is reported
        problem = _leftover_capabilities(check_bounding=can_drop)
        bounding = _bounding_set_empty()
    except OSError as exc:
        return LayerStatus(name, LayerState.FAILED, f"could not clear capabilities: {exc}")
    if problem:
        return LayerStatus(name, LayerState.FAILED, problem)
    inside = os.getuid()
    ids = f"uid {host_uid} gid {host_gid}, the kernel's"
    if inside != host_uid:
        ids += f"; {inside} inside its user namespace"
    # without CAP_SETPCAP the bounding set cannot shrink; it only limits what an execve could
    # gain, and no_new_privs (next layer) and seccomp's refusal of execve make it inert
    rest = "empty bounding set" if bounding else "bounding set kept (inert under no_new_privs)"
    return LayerStatus(
        name, LayerState.ACTIVE, f"already unprivileged ({ids}), no capabilities, {rest}"
    )


def drop_privileges(uid: int, gid: int, *, host_ids: tuple[int, int] | None = None) -> LayerStatus:
    """Become uid/gid with no groups and no capabilities when root; verify there is no way back.

    `host_ids` are the caller's uid and gid as the host sees them, taken before any user
    namespace (default: the current ones). Call it before Landlock and seccomp: both forbid
    the calls this needs. Every error here is FAILED: dropping privileges is always permitted,
    so a refusal is unexpected and the worker must not run.
    """
    name = "privileges"
    if _ROOT_ID in (uid, gid):
        return LayerStatus(
            name, LayerState.FAILED, "refusing to switch to uid/gid 0: configure e.g. 65534"
        )
    if not _is_root():
        return _keep_unprivileged_uid(name, host_ids or (os.getuid(), os.getgid()))
    try:
        _switch_ids(uid, gid)
        problem = _verify_switched(uid, gid)
    except OSError as exc:
        return LayerStatus(name, LayerState.FAILED, f"could not drop root: {exc}")
    if problem:
        return LayerStatus(name, LayerState.FAILED, problem)
    return LayerStatus(
        name, LayerState.ACTIVE, f"root dropped to uid {uid} gid {gid}, no groups or capabilities"
    )
