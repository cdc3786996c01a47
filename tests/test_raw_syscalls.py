"""The OS layers on their own: a worker whose Lua layer is bypassed attacks the host from Python.

A test fixture, never a product feature: the test process forks a child that runs exactly the
worker's confinement (`safekernel.sandbox.confine`: harden, start a thread, lock down) with the
settings a real kernel gives its workers, and then, as if an attacker had full control of the
interpreter, calls the raw syscalls directly: open the kernel's connection file, /etc/passwd
and /proc/<kernel>/environ, write in /tmp, connect to a listener on 127.0.0.1, fork, exec,
signal a real kernel, ptrace it, regain root. The child reports each outcome to the parent
over its channel socket; every attempt must fail, and the host must show no trace of it.
"""

from __future__ import annotations

import ctypes
import encodings.idna  # noqa: F401 - socket addresses need it, and the confined child cannot import
import errno
import hashlib
import os
import select
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import msgpack
import psutil
import pytest

from safekernel.sandbox import SandboxConfig, confine
from safekernel.wire.channel import BlockingChannel
from tests.conftest import Kernel, start_kernel, wait_gone

CHILD_TIMEOUT_S = 30.0
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# x86_64 numbers of calls Python does not wrap (the test skips them elsewhere)
RAW = {"ptrace": 101, "unshare": 272, "io_uring_setup": 425, "memfd_create": 319}
PTRACE_ATTACH = 16


@dataclass
class Target:
    """What the confined child attacks: a real kernel and a few host resources."""

    kernel_pid: int
    connection_file: str
    sentinel_dir: str
    port: int


def _outcome(attempt: Callable[[], object]) -> str:
    try:
        attempt()
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))
    except Exception as exc:  # anything else is a failed attack too, but say what it was
        return type(exc).__name__
    return "ok"


def _raw(name: str, *args: int) -> None:
    result = libc.syscall(ctypes.c_long(RAW[name]), *(ctypes.c_long(a) for a in args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _read(path: str) -> None:
    with open(path, "rb") as f:
        f.read(1)


def _fork() -> None:
    if os.fork() == 0:  # only if the sandbox failed: leave at once, never run the test twice
        os._exit(0)


def _connect(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(("127.0.0.1", port))


def attacks(target: Target) -> dict[str, Callable[[], object]]:
    kernel = target.kernel_pid
    return {
        "read_connection_file": lambda: _read(target.connection_file),
        "read_etc_passwd": lambda: _read("/etc/passwd"),
        "read_kernel_environ": lambda: _read(f"/proc/{kernel}/environ"),
        "read_kernel_cmdline": lambda: _read(f"/proc/{kernel}/cmdline"),
        "write_in_tmp": lambda: Path(target.sentinel_dir, "written").write_text("pwned"),
        "write_connection_file": lambda: Path(target.connection_file).write_text("{}"),
        "list_tmp": lambda: os.listdir("/tmp"),
        "connect_listener": lambda: _connect(target.port),
        "unix_socket": lambda: socket.socket(socket.AF_UNIX).close(),
        "fork": _fork,
        "exec_shell": lambda: os.execv("/bin/sh", ["sh", "-c", "true"]),
        "signal_kernel": lambda: os.kill(kernel, signal.SIGTERM),
        "probe_kernel": lambda: os.kill(kernel, 0),
        "signal_process_group": lambda: os.killpg(os.getpgid(kernel), signal.SIGTERM),
        "ptrace_kernel": lambda: _raw("ptrace", PTRACE_ATTACH, kernel, 0, 0),
        "setuid_root": lambda: os.setuid(0),
        "unshare_user": lambda: _raw("unshare", 0x10000000),
        "io_uring": lambda: _raw("io_uring_setup", 1, 0),
        "memfd": lambda: _raw("memfd_create", 0, 0),
        "chdir_root": lambda: os.chdir("/"),
    }


def _child(config: SandboxConfig, target: Target, sock: socket.socket) -> NoReturn:
    """Runs in the forked child: confine like a worker, attack, report; always _exit."""
    try:
        stop = threading.Event()
        ids: list[int] = []

        def start_threads() -> None:
            # like the worker's reader and watchdog: threads exist when seccomp goes on
            threading.Thread(target=stop.wait, daemon=True).start()
            ids.extend(os.getresuid())  # seccomp refuses getresuid itself

        layers = confine(config, sock.fileno(), start_threads)
        report: dict[str, Any] = {
            "layers": {layer.name: layer.state.value for layer in layers},
            "uids": ids,
        }
        report["attacks"] = {name: _outcome(attempt) for name, attempt in attacks(target).items()}
        BlockingChannel(sock).send({"type": "report", **report})
    finally:
        os._exit(0)


def _read_report(sock: socket.socket, pid: int) -> dict[str, Any]:
    data = b""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the confined child did not report")
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    assert data, "the confined child died before it reported"
    report: dict[str, Any] = msgpack.unpackb(data[4:])
    return report


def run_bypassed_worker(config: SandboxConfig, target: Target) -> dict[str, Any]:
    parent_end, child_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        parent_end.close()
        _child(config, target, child_end)
    child_end.close()
    try:
        return _read_report(parent_end, pid)
    finally:
        parent_end.close()
        os.waitpid(pid, 0)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = start_kernel()
    assert k.run("return 1").result == "1"
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A world-writable dir: only the sandbox keeps the worker from writing in it."""
    path = Path(tempfile.mkdtemp(prefix="safekernel-raw-"))
    path.chmod(0o777)
    (path / "data.txt").write_text("42")
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _fingerprint(paths: list[Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


REFUSED = {"EPERM", "EACCES"}


@pytest.mark.parametrize("with_data_dir", [False, True], ids=["no-data-dir", "data-dir"])
def test_bypassed_worker_cannot_reach_the_host(
    kernel: Kernel, shared_dir: Path, with_data_dir: bool
) -> None:
    """Every raw attempt fails, with or without a data dir (which lets read-only opens pass
    seccomp, leaving Landlock to refuse them)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    connection = Path(kernel.km.connection_file)
    watched = [connection, shared_dir / "data.txt"]
    before = _fingerprint(watched)
    target = Target(kernel.pid, str(connection), str(shared_dir), listener.getsockname()[1])
    config = SandboxConfig(data_dir=str(shared_dir) if with_data_dir else None)
    try:
        report = run_bypassed_worker(config, target)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()

    assert set(report["layers"].values()) == {"active"}, report["layers"]
    # as root the worker becomes nobody; otherwise it keeps the (unprivileged) user's uid
    assert 0 not in report["uids"]
    if os.geteuid() == 0:
        assert report["uids"] == [config.worker_uid] * 3
    results = report["attacks"]
    failed_open = {name: r for name, r in results.items() if r not in REFUSED}
    assert failed_open == {}, f"these attacks were not refused: {failed_open}"
    assert _fingerprint(watched) == before
    assert sorted(p.name for p in shared_dir.iterdir()) == ["data.txt"]
    assert psutil.pid_exists(kernel.pid)
    assert kernel.run("return 6 * 7").result == "42"


def test_bypassed_worker_with_data_dir_still_reads_only_there(
    kernel: Kernel, shared_dir: Path
) -> None:
    """The control: the same sequence lets the worker read its data dir (so the refusals
    above come from the layers, not from a broken child)."""

    def child(sock: socket.socket) -> NoReturn:
        try:
            confine(SandboxConfig(data_dir=str(shared_dir)), sock.fileno(), lambda: None)
            text = (shared_dir / "data.txt").read_text()
            BlockingChannel(sock).send({"type": "report", "text": text})
        finally:
            os._exit(0)

    parent_end, child_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        parent_end.close()
        child(child_end)
    child_end.close()
    try:
        report = _read_report(parent_end, pid)
    finally:
        parent_end.close()
        os.waitpid(pid, 0)
    assert report["text"] == "42"
