"""Test-only launcher: run a command the way a container's default seccomp profile would.

    python -m tests.container_sim [--no-landlock] -- CMD ARGS...

installs a seccomp filter on itself and execs CMD, so the kernel and everything it starts
(zygote, workers) inherit it. The filter does what Docker's default profile does to a process
without CAP_SYS_ADMIN about namespaces: `unshare`, `setns` and `mount` fail with EPERM, `clone`
with any CLONE_NEW* flag fails with EPERM, and `clone3` fails with ENOSYS (Docker's answer, so
glibc falls back to `clone`, whose flags BPF can read). Everything else is allowed. With
`--no-landlock` the three Landlock syscalls fail with ENOSYS as well (a host kernel without
Landlock, or a profile that predates it).

Never part of the product: the kernel has no way to ask for it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

# syscall numbers: x86_64, aarch64
_NUMBERS = {
    "x86_64": {
        "unshare": 272,
        "setns": 308,
        "mount": 165,
        "clone": 56,
        "clone3": 435,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
    },
    "aarch64": {
        "unshare": 97,
        "setns": 268,
        "mount": 40,
        "clone": 220,
        "clone3": 435,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
    },
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
CLONE_NEW_ANY |= 0x40000000

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JSET_K = 0x45
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def supported() -> bool:
    return platform.machine() in _NUMBERS


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(no_landlock: bool) -> bytes:
    arch = platform.machine()
    nr = _NUMBERS[arch]
    eperm = _RET_ERRNO | errno.EPERM
    enosys = _RET_ERRNO | errno.ENOSYS
    rules = [(nr["unshare"], eperm), (nr["setns"], eperm), (nr["mount"], eperm)]
    rules.append((nr["clone3"], enosys))
    if no_landlock:
        rules += [(nr[n], enosys) for n in nr if n.startswith("landlock_")]
    out = [
        _insn(_BPF_LD_W_ABS, 4),  # seccomp_data.arch
        _insn(_BPF_JEQ_K, _AUDIT_ARCH[arch], 1, 0),
        _insn(_BPF_RET_K, _RET_ALLOW),  # another ABI: not this profile's business
        _insn(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
    ]
    for number, action in rules:
        out += [_insn(_BPF_JEQ_K, number, 0, 1), _insn(_BPF_RET_K, action)]
    out += [
        _insn(_BPF_JEQ_K, nr["clone"], 0, 3),
        _insn(_BPF_LD_W_ABS, 16),  # args[0], low 32 bits (little-endian): the clone flags
        _insn(_BPF_JSET_K, CLONE_NEW_ANY, 0, 1),
        _insn(_BPF_RET_K, eperm),
        _insn(_BPF_RET_K, _RET_ALLOW),
    ]
    return b"".join(out)


def install(no_landlock: bool) -> None:
    code = program(no_landlock)
    count = len(code) // 8
    buffer = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def main(argv: list[str]) -> int:
    no_landlock = "--no-landlock" in argv[: argv.index("--")]
    command = argv[argv.index("--") + 1 :]
    install(no_landlock)
    os.execvp(command[0], command)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
