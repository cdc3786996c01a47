"""Each sandbox layer, applied in a forked child that then tries to break out.

The pytest process itself is never confined: every test forks, the child applies the layer(s)
and runs its probes, and it reports a JSON dict back over a pipe before `os._exit`.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import msgpack
import pytest

from safekernel.sandbox.landlock import apply_landlock
from safekernel.sandbox.privileges import drop_privileges, set_no_new_privs, set_not_dumpable
from safekernel.sandbox.report import LayerState, LayerStatus
from safekernel.sandbox.seccomp import ALLOWED_SYSCALLS, ERRNO_OVERRIDES, apply_seccomp

lua54 = pytest.importorskip("lupa.lua54")

CHILD_TIMEOUT_SECONDS = 30.0
NOBODY = 65534
LUA_LOOP = "local t={} for i=1,1e5 do t[i]=i end return #t"
IS_ROOT = os.geteuid() == 0
IS_X86_64 = platform.machine() == "x86_64"
# x86_64 numbers of calls Python has no wrapper for; the filter must answer EPERM to each.
X86_64_DENIED_RAW = {
    "ptrace": 101,
    "personality": 135,
    "mount": 165,
    "unshare": 272,
    "process_vm_readv": 310,
    "perf_event_open": 298,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "openat2": 437,
    "setns": 308,
    "keyctl": 250,
}
X86_64_CLONE3 = 435
X32_GETPID = 0x40000000 | 39

Probe = Callable[[], object]
Report = dict[str, object]

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


# --- running probes in a confined child ---------------------------------------------------


def outcome(probe: Probe) -> str:
    """ "ok", or the errno name the probe failed with."""
    try:
        probe()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return "ok"


def raw_syscall(number: int, *args: int) -> str:
    """Call a syscall Python does not wrap; "ok" or the errno name."""
    result = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]


def run_confined(child: Callable[[], Report]) -> Report:
    """Fork; the child runs `child` (which applies layers and probes) and sends its report."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        _child_main(child, write_fd)
    os.close(write_fd)
    data = _read_until_eof(read_fd, pid)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"killed_by": signal.Signals(os.WTERMSIG(status)).name}
    report: Report = json.loads(data)
    assert "child_crashed" not in report, report["child_crashed"]
    return report


def _child_main(child: Callable[[], Report], write_fd: int) -> NoReturn:
    """Run in the forked child; always leave through _exit so pytest never unwinds twice."""
    try:
        report = child()
    except BaseException as exc:  # the parent shows it
        report = {"child_crashed": f"{type(exc).__name__}: {exc}"}
    try:
        os.write(write_fd, json.dumps(report).encode())
    finally:
        os._exit(0)


def _read_until_eof(fd: int, pid: int) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("confined child hung")
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def applied(status: LayerStatus) -> Report:
    return {"state": status.state.value, "detail": status.detail}


def require_active(report: Report) -> None:
    if report.get("state") == LayerState.UNAVAILABLE.value:
        pytest.skip(f"layer unavailable on this host: {report['detail']}")
    assert report.get("state") == LayerState.ACTIVE.value, report


def after_seccomp(probe: Probe) -> Report:
    """Report of one probe run after the seccomp filter is installed."""

    def child() -> Report:
        report = applied(apply_seccomp())
        report["probe"] = outcome(probe)
        return report

    report = run_confined(child)
    require_active(report)
    return report


@pytest.fixture
def channel() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A socketpair created before the fork, like the worker's channel to the kernel."""
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


# --- seccomp ------------------------------------------------------------------------------


def test_seccomp_reports_active() -> None:
    report = after_seccomp(lambda: None)
    assert "EPERM" in str(report["detail"])


def test_seccomp_refuses_open() -> None:
    assert after_seccomp(lambda: open("/etc/hostname").close())["probe"] == "EPERM"


def test_seccomp_refuses_socket() -> None:
    assert after_seccomp(lambda: socket.socket().close())["probe"] == "EPERM"


def test_seccomp_refuses_fork() -> None:
    def fork_and_leave() -> None:
        if os.fork() == 0:  # only reached if the filter failed: never run the test twice
            os._exit(0)

    assert after_seccomp(fork_and_leave)["probe"] == "EPERM"


def test_seccomp_refuses_exec() -> None:
    assert after_seccomp(lambda: os.execv("/bin/true", ["true"]))["probe"] == "EPERM"


def test_seccomp_refuses_signalling_parent() -> None:
    parent = os.getpid()
    assert after_seccomp(lambda: os.kill(parent, 0))["probe"] == "EPERM"


def test_seccomp_refuses_stat() -> None:
    # Landlock does not cover stat, so seccomp is what hides file metadata.
    assert after_seccomp(lambda: os.stat("/etc/hostname"))["probe"] == "EPERM"


@pytest.mark.skipif(not IS_X86_64, reason="raw syscall numbers are x86_64")
def test_seccomp_refuses_dangerous_syscalls_with_eperm() -> None:
    def child() -> Report:
        report = applied(apply_seccomp())
        # Zero arguments: harmless even if a call were (wrongly) allowed.
        report["probes"] = {
            name: raw_syscall(nr, 0, 0, 0, 0) for name, nr in X86_64_DENIED_RAW.items()
        }
        return report

    report = run_confined(child)
    require_active(report)
    assert report["probes"] == dict.fromkeys(X86_64_DENIED_RAW, "EPERM")


@pytest.mark.skipif(not IS_X86_64, reason="raw syscall numbers are x86_64")
def test_seccomp_answers_clone3_with_enosys() -> None:
    # Unfiltered, clone3(NULL, 0) is EINVAL; ENOSYS proves the filter answered.
    assert after_seccomp(lambda: _expect_ok(raw_syscall(X86_64_CLONE3, 0, 0)))["probe"] == "ENOSYS"


@pytest.mark.skipif(not IS_X86_64, reason="x32 exists only on x86_64")
def test_seccomp_kills_x32_syscalls() -> None:
    def child() -> Report:
        apply_seccomp()
        return {"probe": raw_syscall(X32_GETPID)}

    assert run_confined(child) == {"killed_by": "SIGSYS"}


def _expect_ok(result: str) -> None:
    if result != "ok":
        raise OSError(getattr(errno, result), result)


def test_seccomp_allows_threads() -> None:
    def start_and_join() -> None:
        results: list[int] = []
        worker = threading.Thread(target=lambda: results.append(threading.get_native_id()))
        worker.start()
        worker.join()
        assert results
        assert results[0] != threading.get_native_id()

    assert after_seccomp(start_and_join)["probe"] == "ok"


def test_seccomp_allows_lua() -> None:
    def run_lua() -> None:
        assert lua54.LuaRuntime().execute(LUA_LOOP) == 100_000

    assert after_seccomp(run_lua)["probe"] == "ok"


def test_seccomp_allows_signalling_itself() -> None:
    def signal_self() -> None:
        received: list[int] = []
        signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
        os.kill(os.getpid(), 0)
        os.kill(os.getpid(), signal.SIGUSR1)
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        assert received == [signal.SIGUSR1, signal.SIGUSR1]

    assert after_seccomp(signal_self)["probe"] == "ok"


def test_seccomp_allows_inherited_socketpair_io(
    channel: tuple[socket.socket, socket.socket],
) -> None:
    left, right = channel

    def talk() -> None:
        right.settimeout(5.0)  # ioctl(FIONBIO) plus poll
        left.sendmsg([msgpack.packb({"cell": "x = 1"})])
        assert msgpack.unpackb(right.recv(4096)) == {"cell": "x = 1"}
        right.sendall(b"pong")
        assert select.select([left], [], [], 5.0)[0]
        assert left.recvmsg(4096)[0] == b"pong"

    assert after_seccomp(talk)["probe"] == "ok"


def test_seccomp_allows_memory_clocks_and_randomness() -> None:
    def compute() -> None:
        block = bytearray(64 * 1024 * 1024)  # large enough for mmap rather than brk
        del block
        time.sleep(0.001)
        os.urandom(16)
        os.times()
        signal.setitimer(signal.ITIMER_REAL, 0)

    assert after_seccomp(compute)["probe"] == "ok"


def test_seccomp_file_reads_mode_refuses_writes_and_path_fds(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    target.write_text("42")

    def child() -> Report:
        report = applied(apply_seccomp(allow_file_reads=True))
        report["read"] = outcome(lambda: _expect_text(target, "42"))
        report["list"] = outcome(lambda: os.listdir(tmp_path))
        report["write"] = outcome(lambda: target.write_text("1"))
        report["create"] = outcome(lambda: (tmp_path / "new.txt").write_text("1"))
        report["o_path"] = outcome(lambda: os.close(os.open(tmp_path, os.O_PATH)))
        return report

    report = run_confined(child)
    require_active(report)
    assert (report["read"], report["list"]) == ("ok", "ok")
    assert report["write"] == report["create"] == report["o_path"] == "EPERM"
    assert target.read_text() == "42"


X86_64_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


@pytest.mark.skipif(not X86_64_HEADER.exists(), reason="needs the kernel's x86_64 uapi headers")
def test_seccomp_x86_64_numbers_match_kernel_headers() -> None:
    from safekernel.sandbox.seccomp import _X86_64_NUMBERS

    defined = dict(re.findall(r"#define __NR_(\w+) (\d+)", X86_64_HEADER.read_text()))
    assert {name: int(defined[name]) for name in _X86_64_NUMBERS} == _X86_64_NUMBERS


def test_seccomp_allow_list_gives_every_syscall_a_reason() -> None:
    assert all(reason.strip() for reason in ALLOWED_SYSCALLS.values())
    refused = {"open", "openat", "socket", "connect", "execve", "fork", "vfork", "ptrace", "clone3"}
    assert not refused & ALLOWED_SYSCALLS.keys()
    assert ERRNO_OVERRIDES == {"clone3": errno.ENOSYS}


# --- landlock -----------------------------------------------------------------------------


def after_landlock(probe: Probe, read_only_dirs: list[str] | None = None) -> Report:
    def child() -> Report:
        report = applied(apply_landlock(read_only_dirs or ()))
        report["probe"] = outcome(probe)
        return report

    report = run_confined(child)
    require_active(report)
    return report


def test_landlock_refuses_reading_files() -> None:
    assert after_landlock(lambda: Path("/etc/hostname").read_bytes())["probe"] in {
        "EACCES",
        "EPERM",
    }


def test_landlock_allows_reading_inside_read_only_dir(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("42")
    report = after_landlock(lambda: _expect_text(tmp_path / "data.txt", "42"), [str(tmp_path)])
    assert report["probe"] == "ok"
    assert str(tmp_path) in str(report["detail"])


def test_landlock_refuses_writing_inside_read_only_dir(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("42")
    overwrite = after_landlock(lambda: (tmp_path / "data.txt").write_text("1"), [str(tmp_path)])
    create = after_landlock(lambda: (tmp_path / "new.txt").write_text("1"), [str(tmp_path)])
    assert overwrite["probe"] == create["probe"] == "EACCES"
    assert (tmp_path / "data.txt").read_text() == "42"


def test_landlock_refuses_tcp_connect() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    try:
        report = after_landlock(lambda: socket.create_connection(address, timeout=5).close())
    finally:
        listener.close()
    if "TCP not covered" in str(report["detail"]):
        pytest.skip("Landlock ABI < 4 has no network rights")
    assert report["probe"] == "EACCES"


def test_landlock_refuses_signalling_parent() -> None:
    parent = os.getpid()
    report = after_landlock(lambda: os.kill(parent, 0))
    if "no IPC scoping" in str(report["detail"]):
        pytest.skip("Landlock ABI < 6 has no signal scoping")
    assert report["probe"] == "EPERM"


def test_landlock_fails_clearly_for_missing_dir(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent")
    report = run_confined(lambda: applied(apply_landlock([missing])))
    if report["state"] == LayerState.UNAVAILABLE.value:
        pytest.skip(str(report["detail"]))
    assert report["state"] == LayerState.FAILED.value
    assert missing in str(report["detail"])
    assert "does not exist" in str(report["detail"])


def test_landlock_refuses_to_half_confine_a_threaded_process() -> None:
    def child() -> Report:
        stop = threading.Event()
        helper = threading.Thread(target=stop.wait)
        helper.start()
        try:
            return applied(apply_landlock())
        finally:
            stop.set()
            helper.join()

    report = run_confined(child)
    if report["state"] == LayerState.UNAVAILABLE.value or str(report["detail"]).startswith("ABI 8"):
        pytest.skip("needs a kernel whose Landlock ABI lacks TSYNC")
    assert report["state"] == LayerState.FAILED.value
    assert "before starting threads" in str(report["detail"])


def _expect_text(path: Path, expected: str) -> None:
    assert path.read_text() == expected


# --- privileges ---------------------------------------------------------------------------


def _proc_status() -> dict[str, str]:
    lines = Path("/proc/self/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


@pytest.mark.skipif(not IS_ROOT, reason="dropping root needs root")
def test_drop_privileges_switches_to_nobody_for_good() -> None:
    def child() -> Report:
        report = applied(drop_privileges(NOBODY, NOBODY))
        report["ids"] = [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()]
        report["setuid0"] = outcome(lambda: os.setuid(0))
        report["setgid0"] = outcome(lambda: os.setgid(0))
        return report

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value, report
    assert report["ids"] == [NOBODY, NOBODY, NOBODY, NOBODY, []]
    assert report["setuid0"] == report["setgid0"] == "EPERM"


@pytest.mark.skipif(not IS_ROOT, reason="dropping root needs root")
def test_drop_privileges_empties_every_capability_set() -> None:
    def child() -> Report:
        report = applied(drop_privileges(NOBODY, NOBODY))
        status = _proc_status()
        report["caps"] = {
            key: int(status[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
        }
        return report

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value, report
    assert report["caps"] == dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0)


def test_drop_privileges_reports_already_unprivileged() -> None:
    def child() -> Report:
        if IS_ROOT:
            os.setresgid(NOBODY, NOBODY, NOBODY)
            os.setresuid(NOBODY, NOBODY, NOBODY)
        return applied(drop_privileges(NOBODY, NOBODY))

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value
    assert "already unprivileged" in str(report["detail"])


def test_drop_privileges_refuses_uid_zero() -> None:
    report = run_confined(lambda: applied(drop_privileges(0, 0)))
    assert report["state"] == LayerState.FAILED.value


def test_set_no_new_privs_shows_in_proc_status() -> None:
    def child() -> Report:
        report = applied(set_no_new_privs())
        report["flag"] = _proc_status()["NoNewPrivs"]
        return report

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value
    assert report["flag"] == "1"


def test_set_not_dumpable_clears_dumpable_flag() -> None:
    pr_get_dumpable = 3

    def child() -> Report:
        report = applied(set_not_dumpable())
        report["dumpable"] = libc.prctl(pr_get_dumpable, 0, 0, 0, 0)
        return report

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value
    assert report["dumpable"] == 0


# --- all layers, in harden() order -------------------------------------------------------


@pytest.fixture
def shared_data_dir() -> Iterator[Path]:
    """A data dir that uid nobody may read: pytest's tmp_path sits under a 0700 root dir."""
    path = Path(tempfile.mkdtemp(prefix="safekernel-data-"))
    path.chmod(0o755)
    (path / "data.txt").write_text("42")
    yield path
    shutil.rmtree(path)


def test_all_layers_in_order_keep_lua_threads_and_channel_working(
    shared_data_dir: Path, channel: tuple[socket.socket, socket.socket]
) -> None:
    left, right = channel

    def work() -> None:
        results: list[object] = []
        worker = threading.Thread(
            target=lambda: results.append(lua54.LuaRuntime().execute(LUA_LOOP))
        )
        worker.start()
        worker.join()
        left.sendall(msgpack.packb(results))
        assert msgpack.unpackb(right.recv(4096)) == [100_000]
        _expect_text(shared_data_dir / "data.txt", "42")

    def child() -> Report:
        data_dir = str(shared_data_dir)
        layers: list[Callable[[], LayerStatus]] = [
            lambda: drop_privileges(NOBODY, NOBODY),
            set_no_new_privs,
            set_not_dumpable,
            lambda: apply_landlock([data_dir]),
            lambda: apply_seccomp(allow_file_reads=True),
        ]
        steps = [layer() for layer in layers]
        usable = {LayerState.ACTIVE, LayerState.UNAVAILABLE}
        return {
            "not_active": [f"{s.name}: {s.detail}" for s in steps if s.state not in usable],
            "work": outcome(work),
            "read_outside": outcome(lambda: open("/etc/hostname").close()),
            "write_inside": outcome(lambda: (shared_data_dir / "data.txt").write_text("1")),
        }

    report = run_confined(child)
    assert report["not_active"] == []
    assert report["work"] == "ok"
    assert report["read_outside"] == "EACCES"  # Landlock: seccomp lets read-only opens through
    assert report["write_inside"] == "EPERM"  # seccomp: no open for writing at all


# --- fail closed: what the layers' order makes of a failure -------------------------------


def test_rlimits_keep_a_lower_hard_limit_instead_of_failing() -> None:
    """A host that already caps a limit lower is stricter, not a failure (raising it back is
    impossible without privileges): the layer stays active and says what it set."""

    def child() -> Report:
        import resource

        from safekernel.sandbox.config import SandboxConfig
        from safekernel.sandbox.rlimits import set_rlimits

        resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
        report = applied(set_rlimits(SandboxConfig(cpu_seconds=3600)))
        report["cpu"] = list(resource.getrlimit(resource.RLIMIT_CPU))
        return report

    report = run_confined(child)
    assert report["state"] == LayerState.ACTIVE.value
    assert "CPU 120s" in str(report["detail"])
    assert report["cpu"] == [120, 120]


def test_a_failed_layer_stops_the_steps_and_raises() -> None:
    """The steps stop at the first FAILED layer: the later ones are not tried, and the caller
    (the worker) gets LayerFailed with the report so far, never a list to serve with."""

    def child() -> Report:
        from safekernel.sandbox import LayerFailed, SandboxConfig, inject_failure, lockdown

        inject_failure("nproc")
        try:
            lockdown(SandboxConfig(), [LayerStatus("process", LayerState.ACTIVE)])
        except LayerFailed as failed:
            report: Report = {"layers": [layer.to_wire() for layer in failed.layers]}
        else:
            report = {"layers": "lockdown returned"}
        # seccomp, the step after nproc, was never installed: files still open
        report["open"] = outcome(lambda: os.close(os.open("/dev/null", os.O_RDONLY)))
        return report

    report = run_confined(child)
    layers = report["layers"]
    assert isinstance(layers, list)
    assert [(layer["name"], layer["state"]) for layer in layers] == [
        ("process", "active"),
        ("nproc", "failed"),
    ]
    assert "injected" in layers[-1]["detail"]
    assert report["open"] == "ok"


# --- built once in the zygote, applied in each worker -------------------------------------


def _open_fds() -> list[int]:
    """Descriptors open in this process, found without opening anything (fcntl F_GETFD)."""
    import fcntl

    found = []
    for fd in range(256):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            continue
        found.append(fd)
    return found


def _zygote_then_worker(config_data_dir: str | None) -> Report:
    """As the zygote does: prepare once (network namespace, Landlock ruleset, seccomp program),
    fork, and run the real confinement in the child; its report comes back on the one fd the
    confinement keeps, its channel."""

    def zygote() -> Report:
        from safekernel.sandbox import SandboxConfig, confine, prepare_workers, prepare_zygote

        config = SandboxConfig(data_dir=config_data_dir)
        prepare_zygote()
        prepare_workers(config)
        from safekernel.sandbox.landlock import prepared_fd

        ruleset = prepared_fd([config_data_dir] if config_data_dir else [])
        zygote_pid = os.getpid()
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker
            os.close(read_fd)
            seen: Report = {"ruleset": ruleset, "channel": write_fd}
            try:

                def between() -> None:  # after Landlock, before seccomp, as threads start
                    seen["fds"] = _open_fds()
                    if config_data_dir:
                        path = os.path.join(config_data_dir, "data.txt")
                        seen["read_inside"] = outcome(lambda: open(path).close())
                    seen["read_outside"] = outcome(lambda: open("/etc/hostname").close())

                layers = confine(config, write_fd, between)
                seen["layers"] = {layer.name: layer.detail for layer in layers}
                seen["kill_self"] = outcome(lambda: os.kill(os.getpid(), 0))
                seen["kill_zygote"] = outcome(lambda: os.kill(zygote_pid, 0))
                seen["open"] = outcome(lambda: os.close(os.open("/dev/null", os.O_RDONLY)))
            except BaseException as exc:
                seen["child_crashed"] = f"{type(exc).__name__}: {exc}"
            os.write(write_fd, json.dumps(seen).encode())
            os._exit(0)
        os.close(write_fd)
        data = _read_until_eof(read_fd, pid)
        os.waitpid(pid, 0)
        return {"worker": json.loads(data) if data else "died", "zygote_ruleset": ruleset}

    return run_confined(zygote)


@pytest.mark.parametrize("with_data_dir", [False, True])
def test_layers_built_in_the_zygote_confine_each_worker(
    shared_data_dir: Path, with_data_dir: bool
) -> None:
    report = _zygote_then_worker(str(shared_data_dir) if with_data_dir else None)
    worker = report["worker"]
    assert isinstance(worker, dict), worker
    assert "child_crashed" not in worker, worker["child_crashed"]
    # the ruleset was built in the zygote, handed down, and closed by the worker once used:
    # after Landlock the worker holds stdio (on /dev/null) and its channel, nothing else
    assert isinstance(worker["ruleset"], int)
    assert worker["fds"] == [0, 1, 2, worker["channel"]]
    assert worker["read_outside"] == "EACCES"
    if with_data_dir:
        assert worker["read_inside"] == "ok"
    layers = worker["layers"]
    assert isinstance(layers, dict)
    assert "one per kernel" in layers["network"]
    # the program built in the zygote names the worker's own pid, not the zygote's
    assert worker["kill_self"] == "ok"
    assert worker["kill_zygote"] == "EPERM"
    # outside the data dir: Landlock refuses the open, or seccomp when there is no data dir
    assert worker["open"] == ("EACCES" if with_data_dir else "EPERM")
