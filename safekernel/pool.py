"""Kernel side of the worker processes: start the zygote, claim hardened workers from a pool of
prewarmed spares, refill it in the background, and end every process on close.

A WorkerHandle is shaped like jupyter_client's provisioner (poll / kill), over a pidfd the
zygote sent with the worker's channel, so a signal can never reach a recycled pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from safekernel.channel import (
    DEFAULT_MAX_FRAME,
    HEADER,
    AsyncChannel,
    Message,
    decode_typed,
    encode,
)
from safekernel.errors import ProtocolError, SandboxError, WorkerLost
from safekernel.sandbox.config import SandboxConfig
from safekernel.sandbox.report import LayerState, LayerStatus

#: a worker that has not said "ready" this long after its fork is given up
READY_TIMEOUT_S = 10.0
#: how long a polite shutdown may take before SIGKILL
SHUTDOWN_GRACE_S = 1.0


@dataclass
class WorkerHandle:
    pid: int
    pidfd: int
    channel: AsyncChannel
    runtime: str = ""
    version: str = ""
    layers: list[LayerStatus] = field(default_factory=list)
    killed: bool = False

    def poll(self) -> bool:
        """True while the process is alive (a pidfd turns readable when it exits)."""
        if self.killed:
            return False
        readable, _, _ = select.select([self.pidfd], [], [], 0)
        return not readable

    def send(self, message: Message) -> None:
        self.channel.send(message)

    async def recv(self) -> Message:
        return await self.channel.recv()

    def kill(self) -> None:
        """SIGKILL and forget; the zygote reaps the process. Safe to call twice."""
        if self.killed:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        self.channel.close()
        with contextlib.suppress(OSError):
            os.close(self.pidfd)

    async def wait_ready(self) -> None:
        try:
            message = await asyncio.wait_for(self.recv(), READY_TIMEOUT_S)
        except TimeoutError:
            raise WorkerLost("a new worker did not become ready in time") from None
        if message["type"] != "ready":
            raise ProtocolError(f"expected ready, got {message['type']}")
        self.runtime, self.version = message["runtime"], message["version"]
        self.layers = [LayerStatus.from_wire(layer) for layer in message["layers"]]


class ZygoteProcess:
    """The zygote child and its control socket."""

    def __init__(
        self, runtime: str, log: logging.Logger, max_frame: int = DEFAULT_MAX_FRAME
    ) -> None:
        self.runtime = runtime
        self.log = log
        self.max_frame = max_frame
        self._lock = asyncio.Lock()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # only what the zygote needs to find the package: no key, no connection file
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        # started from the kernel's main thread: the zygote's parent-death signal follows the
        # thread that created it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "safekernel.zygote", str(theirs.fileno()), runtime],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        theirs.close()
        self.control = ours

    async def spawn(self, config: SandboxConfig, memory: int) -> WorkerHandle:
        request = encode({"type": "spawn", "sandbox": config.to_wire(), "memory": memory})
        async with self._lock:
            pid, fds = await asyncio.to_thread(self._spawn_blocking, request)
        kernel_end, pidfd = fds
        channel = await AsyncChannel.open(socket.socket(fileno=kernel_end), self.max_frame)
        return WorkerHandle(pid=pid, pidfd=pidfd, channel=channel)

    def _spawn_blocking(self, request: bytes) -> tuple[int, list[int]]:
        self.control.sendall(request)
        data, fds, _, _ = socket.recv_fds(self.control, 1024, 2)
        if len(fds) != 2 or len(data) < HEADER.size:
            for fd in fds:
                os.close(fd)
            raise WorkerLost("the zygote did not start a worker (is it still running?)")
        reply = decode_typed(data[HEADER.size :])
        return int(reply["pid"]), list(fds)

    def close(self) -> None:
        """Ask the zygote to end its workers and exit; then make sure it has."""
        with contextlib.suppress(OSError):
            self.control.sendall(encode({"type": "shutdown"}))
        try:
            self.process.wait(SHUTDOWN_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.control.close()


class Pool:
    """Hardened spare workers, ready before they are needed."""

    def __init__(
        self,
        *,
        zygote: ZygoteProcess,
        sandbox: SandboxConfig,
        memory: int,
        size: int,
        require_all_layers: bool,
        log: logging.Logger,
    ) -> None:
        self.zygote = zygote
        self.sandbox = sandbox
        self.memory = memory
        self.size = size
        self.require_all_layers = require_all_layers
        self.log = log
        self._spares: list[WorkerHandle] = []
        self._starting = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False
        self.last_layers: list[LayerStatus] = []
        self._warned: set[tuple[str, LayerState]] = set()

    async def claim(self) -> WorkerHandle:
        """A ready worker: a spare at once if there is one, else the next one to start."""
        while True:
            while self._spares:
                worker = self._spares.pop(0)
                if worker.poll():
                    self.refill()
                    return worker
                worker.kill()
            self.refill(minimum=1)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def refill(self, minimum: int = 0) -> None:
        """Start workers in the background until `size` (at least `minimum`) are on the way."""
        if self._closed:
            return
        target = max(self.size, minimum)
        while len(self._spares) + self._starting < target:
            self._starting += 1
            asyncio.get_running_loop().create_task(self._start_one())

    async def _start_one(self) -> None:
        error: BaseException | None = None
        try:
            worker = await self.zygote.spawn(self.sandbox, self.memory)
            try:
                await worker.wait_ready()
                self._check_layers(worker.layers)
            except BaseException:
                worker.kill()
                raise
            if self._closed:
                worker.kill()
            else:
                self._spares.append(worker)
        except Exception as exc:
            self.log.error("safekernel: could not start a worker: %s", exc)
            error = exc
        finally:
            self._starting -= 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is not None and not self._spares:
                    waiter.set_exception(error)
                else:
                    waiter.set_result(None)

    def _check_layers(self, layers: list[LayerStatus]) -> None:
        missing = [layer for layer in layers if layer.state is not LayerState.ACTIVE]
        # warn loudly, but once per change, not once per worker
        signature = {(layer.name, layer.state) for layer in missing}
        if signature != self._warned:
            for layer in missing:
                self.log.warning(
                    "safekernel: SANDBOX LAYER %s IS %s: %s",
                    layer.name,
                    layer.state.value.upper(),
                    layer.detail,
                )
            self._warned = signature
        self.last_layers = layers
        if missing and self.require_all_layers:
            names = ", ".join(f"{m.name} ({m.state.value})" for m in missing)
            raise SandboxError(
                f"require_all_layers is set and these sandbox layers are not active: {names}"
            )

    async def close(self) -> None:
        self._closed = True
        for worker in self._spares:
            worker.kill()
        self._spares.clear()
        self.zygote.close()
