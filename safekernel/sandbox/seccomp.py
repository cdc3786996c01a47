"""seccomp layer: the worker may compute, allocate and talk on the fds it holds, nothing else.

`apply_seccomp` installs a classic-BPF program built in Python (once per zygote, by
`prepare_seccomp`; a worker writes only its own pid into its copy) with
`seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)`, so every thread of the process is
covered at once. The program:

* kills the process for any syscall made through another ABI than the host's own (i386
  `int 0x80` or x32 on x86_64), since their numbers would bypass the table below;
* allows exactly `ALLOWED_SYSCALLS`, some only with checked arguments: `clone` only creates
  threads, `kill`/`tgkill`/`tkill` only target the worker itself, `fcntl`/`ioctl` only toggle
  blocking and close-on-exec flags;
* makes `clone3` fail with ENOSYS, because BPF cannot read its flags (they sit behind a
  pointer) and glibc then falls back to `clone`, whose flags it can read;
* makes every other syscall fail with EPERM, so Lua and Python see an ordinary error instead of
  a dead worker: open*, stat*, socket, connect, execve, fork, ptrace, mount, bpf, io_uring,
  process_vm_*, unshare, setns, keyctl, perf_event_open, userfaultfd, personality, ...

What it does not defend: bugs in the allowed syscalls themselves (futex, mmap, ... are kernel
attack surface); data sent on the channel the worker already holds; memory and CPU exhaustion
(rlimits); reads of fds inherited before hardening (the worker must close them first). BPF sees
only raw argument values, never the memory a pointer argument points at.

Apply it last: the earlier layers need syscalls this one forbids. The allow-list was measured
with strace on CPython 3.11 + lupa (lua54) + msgpack running Lua code, two threads, socketpair
I/O, timers and signals to itself (see `tests/test_sandbox_layers.py`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass

from safekernel.sandbox.privileges import set_no_new_privs
from safekernel.sandbox.report import LayerState, LayerStatus

_LAYER = "seccomp"

# Each allowed syscall with the reason it is safe once open/socket/exec/fork are gone.
# Insertion order is emission order: the hottest calls come first, since BPF scans linearly.
ALLOWED_SYSCALLS: dict[str, str] = {
    "futex": "waits/wakes on the process's own memory words (GIL, locks, thread joins)",
    "read": "reads an fd the worker already holds; it cannot open new ones",
    "write": "writes an fd the worker already holds (its channel, stdout/stderr)",
    "close": "gives up an fd the worker holds; it can never obtain a new one",
    "readv": "vector form of read on an fd already held",
    "writev": "vector form of write; glibc uses it for its fatal-error messages",
    "recvfrom": "receives on the already-connected channel",
    "sendto": "sends on the already-connected channel; no socket() means no new peer",
    "recvmsg": "receives on the already-connected channel",
    "sendmsg": "sends on the already-connected channel",
    "poll": "waits for readiness of fds already held",
    "ppoll": "waits for readiness of fds already held",
    "select": "waits for readiness of fds already held",
    "pselect6": "waits for readiness of fds already held (glibc's select)",
    "mmap": "maps memory (anonymous or an fd already held); RLIMIT_AS bounds it",
    "munmap": "unmaps the process's own memory",
    "mremap": "grows or moves the process's own mappings; RLIMIT_AS bounds it",
    "mprotect": "changes protection of its own pages; code already runs in-process",
    "madvise": "hints about its own pages; the harmful advice values need CAP_SYS_ADMIN",
    "brk": "grows the heap; RLIMIT_DATA bounds it",
    "clock_gettime": "reads a clock (the vDSO falls back to the syscall on some hosts)",
    "clock_getres": "reads a clock's resolution",
    "gettimeofday": "reads the wall clock (vDSO fallback)",
    "nanosleep": "sleeps",
    "clock_nanosleep": "sleeps (time.sleep)",
    "restart_syscall": "resumes an allowed sleep/poll that a signal interrupted",
    "rt_sigaction": "installs handlers for the process's own signals",
    "rt_sigprocmask": "masks the calling thread's own signals",
    "rt_sigreturn": "returns from the process's own signal handler",
    "sigaltstack": "sets the calling thread's own signal stack",
    "setitimer": "arms a timer that signals only this process (in-worker timeouts)",
    "getitimer": "reads this process's own timer",
    "alarm": "arms a timer that signals only this process",
    "kill": "only with pid == the worker's own pid (checked in BPF)",
    "tgkill": "only with tgid == the worker's own pid (checked in BPF; pthread_kill, abort)",
    "tkill": "only with tid == the worker's own pid (checked in BPF)",
    "clone": "only with CLONE_THREAD and no namespace flags (checked in BPF): threads only",
    "set_robust_list": "registers a new thread's robust-futex list in its own memory",
    "rseq": "registers a new thread's restartable-sequence area in its own memory",
    "exit": "ends the calling thread",
    "exit_group": "ends the worker",
    "gettid": "reads the calling thread's own id",
    "getpid": "reads the worker's own pid",
    "getrandom": "reads kernel randomness (os.urandom, hash seeds); discloses nothing",
    "getrusage": "reads the worker's own CPU and memory use",
    "sched_yield": "gives up the CPU (spin-then-wait loops)",
    "getsockname": "describes a socket already held (Python's socket repr)",
    "getpeername": "describes a socket already held (Python's socket repr)",
    "fcntl": "only F_GETFD/F_SETFD/F_GETFL/F_SETFL/F_DUPFD_CLOEXEC (checked in BPF): no "
    "F_SETOWN signals; a duplicate of a held fd grants nothing new (listing a data dir dups)",
    "ioctl": "only FIONBIO/FIOCLEX/FIONCLEX (checked in BPF): no TIOCSTI, no device ioctls",
}

# Added only with `allow_file_reads=True`, for a worker given a read-only data dir: Landlock
# then decides which paths open, since BPF cannot see a path. Landlock does not cover stat, so
# this mode lets the worker learn metadata (existence, size, times) of any path it can name.
FILE_READ_SYSCALLS: dict[str, str] = {
    "openat": "only without write/create/truncate/append/O_PATH flags (checked in BPF); "
    "Landlock limits which paths",
    "newfstatat": "fstat of an opened file (glibc's fstat); also stats paths: metadata only",
    "fstat": "describes an fd already held",
    "lseek": "moves the offset of an fd already held",
    "getdents64": "lists a directory already opened (Landlock allowed the open)",
}

# Not allowed, but answered with another errno than EPERM so callers take their fallback.
ERRNO_OVERRIDES: dict[str, int] = {
    # glibc retries with clone (whose flags BPF can check) only when clone3 says ENOSYS.
    "clone3": errno.ENOSYS,
}

# fmt: off
# Syscall numbers per architecture, for ALLOWED_SYSCALLS and ERRNO_OVERRIDES. Calls missing on
# an architecture (aarch64 has no poll/select/alarm) are simply absent from its table.
_X86_64_NUMBERS: dict[str, int] = {
    "read": 0, "write": 1, "close": 3, "fstat": 5, "poll": 7, "lseek": 8, "mmap": 9,
    "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14,
    "rt_sigreturn": 15, "ioctl": 16, "readv": 19, "writev": 20, "select": 23, "sched_yield": 24,
    "mremap": 25, "madvise": 28, "nanosleep": 35, "getitimer": 36, "alarm": 37, "setitimer": 38,
    "getpid": 39, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "getsockname": 51,
    "getpeername": 52, "clone": 56, "exit": 60, "kill": 62, "fcntl": 72, "gettimeofday": 96,
    "getrusage": 98, "sigaltstack": 131, "gettid": 186, "tkill": 200, "futex": 202,
    "getdents64": 217, "restart_syscall": 219, "clock_gettime": 228, "clock_getres": 229,
    "clock_nanosleep": 230, "exit_group": 231, "tgkill": 234, "openat": 257, "newfstatat": 262,
    "pselect6": 270, "ppoll": 271, "set_robust_list": 273, "getrandom": 318, "rseq": 334,
    "clone3": 435,
}
_AARCH64_NUMBERS: dict[str, int] = {
    "fcntl": 25, "ioctl": 29, "openat": 56, "close": 57, "getdents64": 61, "lseek": 62, "read": 63,
    "write": 64, "readv": 65, "writev": 66, "pselect6": 72, "ppoll": 73, "newfstatat": 79,
    "fstat": 80, "exit": 93, "exit_group": 94, "futex": 98, "set_robust_list": 99,
    "nanosleep": 101, "getitimer": 102, "setitimer": 103, "clock_gettime": 113,
    "clock_getres": 114, "clock_nanosleep": 115, "sched_yield": 124, "restart_syscall": 128,
    "kill": 129, "tkill": 130, "tgkill": 131, "sigaltstack": 132, "rt_sigaction": 134,
    "rt_sigprocmask": 135, "rt_sigreturn": 139, "getrusage": 165, "gettimeofday": 169,
    "getpid": 172, "gettid": 178, "getsockname": 204, "getpeername": 205, "sendto": 206,
    "recvfrom": 207, "sendmsg": 211, "recvmsg": 212, "brk": 214, "munmap": 215, "mremap": 216,
    "clone": 220, "mmap": 222, "mprotect": 226, "madvise": 233, "getrandom": 278, "rseq": 293,
    "clone3": 435,
}
# fmt: on


@dataclass(frozen=True)
class _Arch:
    name: str
    audit_arch: int  # seccomp_data.arch for this ABI (AUDIT_ARCH_* in <linux/audit.h>)
    seccomp_nr: int
    numbers: dict[str, int]
    # Syscall numbers with this bit set belong to another ABI sharing the arch value (x32).
    foreign_abi_bit: int = 0


_ARCHES: dict[str, _Arch] = {
    "x86_64": _Arch("x86_64", 0xC000003E, 317, _X86_64_NUMBERS, foreign_abi_bit=0x40000000),
    "aarch64": _Arch("aarch64", 0xC00000B7, 277, _AARCH64_NUMBERS),
}

# Classic BPF opcodes (<linux/bpf_common.h>) and seccomp constants (<linux/seccomp.h>).
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
_BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00
_BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00
_BPF_ALU_AND_K = 0x04 | 0x50 | 0x00
_BPF_RET_K = 0x06 | 0x00
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_GET_ACTION_AVAIL = 2
_SECCOMP_FILTER_FLAG_TSYNC = 1

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]. Little-endian
# hosts only, so an argument's low 32 bits come first.
_OFFSET_NR = 0
_OFFSET_ARCH = 4
_OFFSET_ARGS = 16
_ARG_SIZE = 8

# Argument values the conditional rules compare against.
_CLONE_THREAD = 0x00010000
_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
# The kernel already refuses most of these with CLONE_THREAD, or without CAP_SYS_ADMIN; the
# filter refuses them all anyway so a thread is never a way into a new namespace.
_CLONE_NAMESPACE_FLAGS = _CLONE_NEWNS | _CLONE_NEWCGROUP | _CLONE_NEWUTS | _CLONE_NEWIPC
_CLONE_NAMESPACE_FLAGS |= _CLONE_NEWUSER | _CLONE_NEWPID | _CLONE_NEWNET
_F_GETFD, _F_SETFD, _F_GETFL, _F_SETFL, _F_DUPFD_CLOEXEC = 1, 2, 3, 4, 1030
_FIONBIO, _FIONCLEX, _FIOCLEX = 0x5421, 0x5450, 0x5451
# O_PATH fds are not checked by Landlock and O_TMPFILE creates a file; O_TMPFILE includes the
# O_DIRECTORY bit, which listing a directory needs, so only its own bit is refused.
_OPEN_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_OPEN_FORBIDDEN_FLAGS = _OPEN_WRITE_FLAGS | os.O_PATH | (os.O_TMPFILE & ~os.O_DIRECTORY)


@dataclass(frozen=True)
class _ArgCheck:
    """Allow a syscall only when the low 32 bits of one argument pass this check.

    Low 32 bits suffice: every argument checked here is an int, pid_t or unsigned int in the
    kernel (clone reads only lower_32_bits of its flags), so the kernel ignores the high half.
    """

    index: int
    one_of: tuple[int, ...] = ()
    required_bits: int = 0
    forbidden_bits: int = 0


def _argument_checks(self_pid: int) -> dict[str, _ArgCheck]:
    return {
        "clone": _ArgCheck(0, required_bits=_CLONE_THREAD, forbidden_bits=_CLONE_NAMESPACE_FLAGS),
        "kill": _ArgCheck(0, one_of=(self_pid,)),
        "tgkill": _ArgCheck(0, one_of=(self_pid,)),
        "tkill": _ArgCheck(0, one_of=(self_pid,)),
        "fcntl": _ArgCheck(1, one_of=(_F_GETFD, _F_SETFD, _F_GETFL, _F_SETFL, _F_DUPFD_CLOEXEC)),
        "ioctl": _ArgCheck(1, one_of=(_FIONBIO, _FIOCLEX, _FIONCLEX)),
        "openat": _ArgCheck(2, forbidden_bits=_OPEN_FORBIDDEN_FLAGS),
    }


# --- program generation -------------------------------------------------------------------

_Insn = tuple[int, int, int, int]  # (code, jt, jf, k), as in struct sock_filter


def _stmt(code: int, k: int) -> _Insn:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> _Insn:
    return (code, jt, jf, k)


def _load_arg_low(index: int) -> _Insn:
    return _stmt(_BPF_LD_W_ABS, _OFFSET_ARGS + index * _ARG_SIZE)


def _errno(code: int) -> _Insn:
    return _stmt(_BPF_RET_K, _RET_ERRNO | code)


def _check_block(check: _ArgCheck) -> list[_Insn]:
    """Instructions that end in ALLOW or ERRNO(EPERM) depending on one argument."""
    if check.one_of:
        count = len(check.one_of)
        # Value j jumps over the remaining (count - 1 - j) compares and the deny to reach ALLOW.
        compares = [_jump(_BPF_JMP_JEQ_K, v, count - j, 0) for j, v in enumerate(check.one_of)]
        return [
            _load_arg_low(check.index),
            *compares,
            _errno(errno.EPERM),
            _stmt(_BPF_RET_K, _RET_ALLOW),
        ]
    return [
        _load_arg_low(check.index),
        _jump(_BPF_JMP_JSET_K, check.forbidden_bits, 2, 0),
        _stmt(_BPF_ALU_AND_K, check.required_bits),
        _jump(_BPF_JMP_JEQ_K, check.required_bits, 1, 0),
        _errno(errno.EPERM),
        _stmt(_BPF_RET_K, _RET_ALLOW),
    ]


def _syscall_block(number: int, action: list[_Insn]) -> list[_Insn]:
    """`if nr == number: <action>`; action must end in a return."""
    return [_jump(_BPF_JMP_JEQ_K, number, 0, len(action)), *action]


def allowed_syscalls(
    *, allow_file_reads: bool = False, extra: Sequence[str] = ()
) -> dict[str, str]:
    """Every syscall the filter lets through (some with checked arguments), with its reason.
    `extra` are the runtime's own needs; its registry entry (runtimes/registry) says why each
    one is safe."""
    runtime = {name: "needed by the worker's runtime (see its registry entry)" for name in extra}
    return {**runtime, **ALLOWED_SYSCALLS, **(FILE_READ_SYSCALLS if allow_file_reads else {})}


def _arch_guard(spec: _Arch) -> list[_Insn]:
    """Kill on any other ABI, then leave the syscall number in A for the rules."""
    guard = [
        _stmt(_BPF_LD_W_ABS, _OFFSET_ARCH),
        _jump(_BPF_JMP_JEQ_K, spec.audit_arch, 1, 0),
        _stmt(_BPF_RET_K, _RET_KILL_PROCESS),
        _stmt(_BPF_LD_W_ABS, _OFFSET_NR),
    ]
    if spec.foreign_abi_bit:
        guard += [
            _jump(_BPF_JMP_JSET_K, spec.foreign_abi_bit, 0, 1),
            _stmt(_BPF_RET_K, _RET_KILL_PROCESS),
        ]
    return guard


def build_program(
    arch: str, self_pid: int, *, allow_file_reads: bool = False, extra: Sequence[str] = ()
) -> list[_Insn]:
    """The filter as (code, jt, jf, k) tuples; public so tests and docs can inspect it."""
    spec = _ARCHES[arch]
    checks = _argument_checks(self_pid)
    program = _arch_guard(spec)
    for name, code in ERRNO_OVERRIDES.items():
        if name in spec.numbers:
            program += _syscall_block(spec.numbers[name], [_errno(code)])
    for name in allowed_syscalls(allow_file_reads=allow_file_reads, extra=extra):
        if name not in spec.numbers:
            continue
        check = checks.get(name)
        action = _check_block(check) if check else [_stmt(_BPF_RET_K, _RET_ALLOW)]
        program += _syscall_block(spec.numbers[name], action)
    program.append(_errno(errno.EPERM))
    return program


# --- installation -------------------------------------------------------------------------


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _seccomp(spec: _Arch, operation: int, flags: int, arg: object) -> int:
    """seccomp(2) through syscall(); returns its result, or -errno."""
    result: int = _libc.syscall(
        ctypes.c_long(spec.seccomp_nr), ctypes.c_long(operation), ctypes.c_long(flags), arg
    )
    return -ctypes.get_errno() if result < 0 else result


#: what the action probe's errno means when the host lacks what the filter needs: no seccomp()
#: at all (ENOSYS), no SECCOMP_GET_ACTION_AVAIL before Linux 4.14 (EINVAL), an action the
#: kernel does not know (EOPNOTSUPP). Anything else (EPERM from an outer sandbox's filter,
#: EFAULT) is unexplained, so FAILED: seccomp is the wall this design leans on most.
_UNAVAILABLE_ERRNOS = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


def _missing_actions(spec: _Arch) -> LayerStatus | None:
    """Ask the kernel whether it supports every action the program returns (Linux >= 4.14)."""
    for action in (_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW):
        value = ctypes.c_uint32(action)
        result = _seccomp(spec, _SECCOMP_GET_ACTION_AVAIL, 0, ctypes.pointer(value))
        if result == 0:
            continue
        if -result in _UNAVAILABLE_ERRNOS:
            return LayerStatus(
                _LAYER,
                LayerState.UNAVAILABLE,
                f"kernel lacks seccomp action {action:#x} (needs Linux >= 4.14 with filters)",
            )
        return LayerStatus(
            _LAYER, LayerState.FAILED, f"seccomp action probe refused: {os.strerror(-result)}"
        )
    return None


def _filters(program: list[_Insn]) -> ctypes.Array[_SockFilter]:
    return (_SockFilter * len(program))(*(_SockFilter(*insn) for insn in program))


def _install(spec: _Arch, filters: ctypes.Array[_SockFilter]) -> int:
    fprog = _SockFprog(len(filters), filters)
    return _seccomp(
        spec, _SECCOMP_SET_MODE_FILTER, _SECCOMP_FILTER_FLAG_TSYNC, ctypes.pointer(fprog)
    )


def _host_arch() -> _Arch | None:
    return _ARCHES.get(platform.machine())


@dataclass
class _Program:
    """A filter built for one (allow_file_reads, extra) choice, the worker's pid left open."""

    spec: _Arch
    filters: ctypes.Array[_SockFilter]
    #: instructions whose k is the pid a worker may signal (kill/tgkill/tkill compares)
    pid_slots: tuple[int, ...]
    detail: str

    def for_pid(self, pid: int) -> ctypes.Array[_SockFilter]:
        for slot in self.pid_slots:
            self.filters[slot].k = pid
        return self.filters


_Key = tuple[bool, tuple[str, ...]]
#: programs built by prepare_seccomp() in the zygote, or why the host cannot have one;
#: inherited by its workers, each of which writes its own pid into its copy
_prepared: dict[_Key, _Program | LayerStatus] = {}


def _host_check() -> _Arch | LayerStatus:
    """The host's syscall table if the kernel has every action the program uses."""
    spec = _host_arch()
    if spec is None:
        return LayerStatus(
            _LAYER, LayerState.UNAVAILABLE, f"no syscall table for {platform.machine()}"
        )
    missing = _missing_actions(spec)
    return spec if missing is None else missing


def _build(spec: _Arch, allow_file_reads: bool, extra: Sequence[str]) -> _Program:
    # built for two pids: the instructions that differ are the ones that name the pid
    first = build_program(spec.name, 1, allow_file_reads=allow_file_reads, extra=extra)
    second = build_program(spec.name, 2, allow_file_reads=allow_file_reads, extra=extra)
    slots = tuple(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
    allowed = allowed_syscalls(allow_file_reads=allow_file_reads, extra=extra)
    count = sum(name in spec.numbers for name in allowed)
    reads = ", read-only opens" if allow_file_reads else ""
    detail = f"{count} syscalls allowed on {spec.name}{reads}; all others EPERM"
    return _Program(spec, _filters(first), slots, detail)


def prepare_seccomp(*, allow_file_reads: bool = False, extra: Sequence[str] = ()) -> None:
    """Build the filter (and ask the kernel about its actions) once, in the zygote: a worker
    then only writes its pid into the program and installs it (~0.6 ms less per worker)."""
    key = (allow_file_reads, tuple(extra))
    if key in _prepared:
        return
    host = _host_check()
    _prepared[key] = host if isinstance(host, LayerStatus) else _build(host, *key)


def apply_seccomp(
    *, self_pid: int | None = None, allow_file_reads: bool = False, extra: Sequence[str] = ()
) -> LayerStatus:
    """Install the allow-list filter on every thread of the calling process (irreversible).

    `self_pid` is the only pid the worker may signal (default: the caller's pid). Pass
    `allow_file_reads=True` only together with a Landlock read-only data dir: it lets read-only
    opens through (see FILE_READ_SYSCALLS), and Landlock keeps them inside that dir. `extra`
    names the syscalls the runtime needs beyond the base list (its registry entry). Uses the
    program prepare_seccomp() built, if any, else builds it here.
    """
    key = (allow_file_reads, tuple(extra))
    program = _prepared.get(key)
    if program is None:
        host = _host_check()
        program = host if isinstance(host, LayerStatus) else _build(host, *key)
    if isinstance(program, LayerStatus):
        return program
    # Without no_new_privs an unprivileged process may not install a filter (EACCES).
    nnp = set_no_new_privs()
    if not nnp.active:
        return LayerStatus(_LAYER, nnp.state, f"needs no_new_privs: {nnp.detail}")
    result = _install(program.spec, program.for_pid(self_pid or os.getpid()))
    # The kernel has filters (probed above) and no_new_privs is set, so any refusal now (EINVAL
    # for a program it rejects, ENOMEM, EACCES) is unexpected: FAILED, and the worker ends.
    if result > 0:
        # TSYNC reports the id of a thread it could not synchronise (it has its own filter).
        return LayerStatus(_LAYER, LayerState.FAILED, f"thread {result} could not be synchronised")
    if result < 0:
        return LayerStatus(
            _LAYER, LayerState.FAILED, f"kernel refused the filter: {os.strerror(-result)}"
        )
    return LayerStatus(_LAYER, LayerState.ACTIVE, program.detail)
