"""The kernel's side of the zygote (worker/zygote.py): start it, a fresh interpreter by exec
holding no secret and no descriptor but its control socket; ask it for workers; end it.

`python -m safekernel` calls `prestart()` first thing, before it imports ipykernel: the kernel's
own imports take ~0.45 s on this machine (IPython most of it) and the zygote's start (interpreter
and lupa) ~0.1 s, so starting the zygote first lets the two run side by side on two cores
instead of one after the other. The pool's ZygoteProcess then takes that zygote with
`take_prestarted()`, and the pool starts a new one whenever it needs another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from safekernel.errors import ProtocolError, WorkerLost
from safekernel.limits import (
    DEFAULT_MAX_FRAME,
    SHUTDOWN_GRACE_S,
    SPAWN_TIMEOUT_S,
    ZYGOTE_FAILURE_CHARS,
    ZYGOTE_PREPARE_TIMEOUT_S,
)
from safekernel.wire.asyncchannel import AsyncChannel
from safekernel.wire.channel import HEADER, decode_spawned, encode
from safekernel.wire.confinement import SandboxConfig


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


def cache_dir() -> str:
    """`$SAFEKERNEL_CACHE_DIR`, else `$XDG_CACHE_HOME/safekernel`, else `~/.cache/safekernel`
    (the same rule as the runtimes' own, for when they run without the kernel)."""
    configured = os.environ.get("SAFEKERNEL_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "safekernel")


def start_zygote(runtime: str) -> ZygoteLaunch:
    """Start `python -m safekernel.worker.zygote FD RUNTIME`. Call it from the kernel's main thread:
    the zygote's parent-death signal follows the thread that created it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # only what the zygote needs to find the package: no key, no connection file
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    # SAFEKERNEL_TEST_FAIL_LAYER: set only by tests, in the kernel's own environment (see
    # sandbox.inject_failure: it can only make workers end before they serve)
    # where runtimes keep compiled guest code (runtimes/python/guest.py): a path, no secret;
    # named here so the zygote finds the cache `install` filled, whatever its own HOME
    env["SAFEKERNEL_CACHE_DIR"] = cache_dir()
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
#: the largest `failed` frame body read (a reason of ZYGOTE_FAILURE_CHARS, up to 4 bytes each)
MAX_FAILURE_FRAME = 4 * ZYGOTE_FAILURE_CHARS + 64


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


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # the command name is in parentheses and may itself hold spaces or parentheses
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


class ZygoteProcess:
    """The zygote child and its control socket."""

    def __init__(
        self, runtime: str, log: logging.Logger, max_frame: int = DEFAULT_MAX_FRAME
    ) -> None:
        self.runtime = runtime
        self.log = log
        self.max_frame = max_frame
        self._lock = asyncio.Lock()
        # the zygote `python -m safekernel` started before its imports, else a new one
        launch = take_prestarted(runtime) or start_zygote(runtime)
        self.process, self.control = launch.process, launch.control
        self.started_at = time.monotonic()
        #: a worker it forked became ready: it started properly, whenever it dies later
        self.served = False
        #: it has answered a spawn request: it finished preparing its runtime
        self.answered = False
        #: why it could not start, in its own words (a `failed` message), once it has said so
        self.failure: str | None = None
        # readable once the zygote has exited; the pool watches it on the kernel's loop
        self.pidfd = os.pidfd_open(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def spawning(self) -> bool:
        """A spawn request is out: its thread is the one reading the control socket."""
        return self._lock.locked()

    async def spawn_done(self) -> None:
        """Wait until no spawn request is out (it ends at once once the zygote has exited)."""
        async with self._lock:
            pass

    def read_failure(self) -> str | None:
        """What an exited zygote said before it went (`failure`), reading what is left on its
        control socket if no spawn request has read it. Call only while not `spawning`."""
        if self.failure is None and not self.spawning:
            with contextlib.suppress(OSError):
                self.control.setblocking(False)
                self._note_failure(self.control.recv(HEADER.size + MAX_FAILURE_FRAME))
        return self.failure

    def _note_failure(self, data: bytes) -> None:
        """Keep the reason of a `failed` frame; anything else (a cut frame, EOF) says nothing."""
        try:
            message = decode_spawned(data[HEADER.size :])
        except ProtocolError:
            return
        if message["type"] == "failed":
            # shown to the user as it is: one line of printable text
            words = "".join(c for c in message["reason"] if c.isprintable()).split()
            self.failure = " ".join(words)[:ZYGOTE_FAILURE_CHARS] or "no reason given"

    async def spawn(self, config: SandboxConfig, memory: int) -> tuple[int, int, AsyncChannel]:
        """Fork a worker: its pid, a pidfd for it, and the kernel's end of its channel."""
        request = encode({"type": "spawn", "sandbox": config.to_wire(), "memory": memory})
        async with self._lock:
            pid, fds = await asyncio.to_thread(self._spawn_blocking, request)
        kernel_end, pidfd = fds
        channel = await AsyncChannel.open(socket.socket(fileno=kernel_end), self.max_frame)
        return pid, pidfd, channel

    def _spawn_blocking(self, request: bytes) -> tuple[int, list[int]]:
        self.control.settimeout(SPAWN_TIMEOUT_S)
        try:
            self.control.sendall(request)
            data, fds = self._receive()
        except TimeoutError:
            # a late reply would answer the next request: this zygote cannot be used again
            self.process.kill()
            raise WorkerLost("the zygote did not answer; it was replaced") from None
        except OSError as exc:
            raise WorkerLost(f"the zygote is gone ({exc})") from None
        self.answered = True
        if len(fds) != 2 or len(data) < HEADER.size:
            for fd in fds:
                os.close(fd)
            self._note_failure(data)
            raise WorkerLost(
                self.failure or "the zygote did not start a worker (is it still running?)"
            )
        reply = decode_spawned(data[HEADER.size :])
        if reply["type"] != "spawned":
            for fd in fds:
                os.close(fd)
            raise WorkerLost(f"the zygote answered a spawn request with {reply['type']}")
        return int(reply["pid"]), list(fds)

    def _receive(self) -> tuple[bytes, list[int]]:
        """The zygote's reply. A new zygote reads its first request only once its runtime is
        prepared (the first start on a machine compiles the guest), so it is waited for as
        long as it is still preparing: alive, not stopped, using CPU (itself or the compiler
        it started), and within the prepare bound. One that idles without answering is
        replaced after the spawn timeout, as a zygote that has answered before always is."""
        warned = False
        spent = self._session_cpu()
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self.control, HEADER.size + MAX_FAILURE_FRAME, 2)
                return data, fds
            except TimeoutError:
                before, spent = spent, self._session_cpu()
                if self.answered or spent <= before or not self._preparing():
                    raise
                if not warned:
                    warned = True
                    self.log.warning(
                        "safekernel: the %s zygote is still preparing its runtime (a first "
                        "start compiles the guest once per machine; `python -m safekernel "
                        "install --runtime %s` does it ahead of time)",
                        self.runtime,
                        self.runtime,
                    )

    def _preparing(self) -> bool:
        if time.monotonic() - self.started_at > ZYGOTE_PREPARE_TIMEOUT_S:
            return False
        stat = _stat(self.process.pid)
        # R running, S/D waiting (for its compiler); T/t stopped, Z/X gone
        return stat is not None and stat[0] in (b"R", b"S", b"D")

    def _session_cpu(self) -> int:
        """CPU ticks used so far by the zygote's session (it and any compiler it started: the
        zygote leads its own session, and no worker exists before its first answer)."""
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            stat = _stat(int(entry.name))
            if stat is not None and len(stat) > 12 and stat[3] == str(self.pid).encode():
                total += int(stat[11]) + int(stat[12])
        return total

    def close(self) -> None:
        """Ask the zygote to end its workers and exit; then make sure it has (and reap it)."""
        with contextlib.suppress(OSError):
            self.control.sendall(encode({"type": "shutdown"}))
        try:
            self.process.wait(SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.control.close()
        with contextlib.suppress(OSError):
            os.close(self.pidfd)
