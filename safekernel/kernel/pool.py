"""Kernel side of the worker processes: start the zygote, claim hardened workers from a pool of
prewarmed spares, refill it in the background, and end every process on close.

A WorkerHandle is shaped like jupyter_client's provisioner (poll / kill), over a pidfd the
zygote sent with the worker's channel, so a signal can never reach a recycled pid.

The pool watches the zygote through a pidfd on the kernel's loop. If the zygote dies, every
worker it forked dies with it (their parent-death signal); the pool marks them dead at once,
starts a new zygote and refills, so the next cell still runs (the session tells the user that
its variables were lost, or replays them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import time
import weakref
from dataclasses import dataclass, field

from safekernel.errors import ProtocolError, SandboxError, WorkerLost
from safekernel.kernel.zygote import ZygoteProcess
from safekernel.limits import READY_TIMEOUT_S, REFILL_DELAY_S
from safekernel.wire.asyncchannel import AsyncChannel
from safekernel.wire.channel import Message
from safekernel.wire.confinement import LayerState, LayerStatus, SandboxConfig
from safekernel.wire.messages import KERNEL_TO_WORKER, validate

#: zygotes in a row that died before any worker of theirs became ready: then the pool stops
#: starting new ones (something is broken; restart the kernel)
ZYGOTE_MAX_QUICK_DEATHS = 3
#: workers in a row refused by their sandbox (a layer FAILED, or require_all_layers): then the
#: pool stops forking (the next one would fail the same way) and every claim gets the reason
MAX_REFUSED_STARTS = 3


class WorkerRefused(SandboxError):
    """A new worker's sandbox is not acceptable; `layers` is its report."""

    def __init__(self, message: str, layers: list[LayerStatus]) -> None:
        super().__init__(message)
        self.layers = layers


@dataclass(eq=False)  # compared by identity, so the pool can keep a weak set of them
class WorkerHandle:
    pid: int
    pidfd: int
    channel: AsyncChannel
    runtime: str = ""
    version: str = ""
    layers: list[LayerStatus] = field(default_factory=list)
    killed: bool = False
    #: the zygote that forked it (a worker dies with its zygote)
    zygote: ZygoteProcess | None = None

    def lost_with_zygote(self) -> bool:
        """True if this worker's zygote has exited (so the worker died of that, not of a
        cell: the parent-death signal killed it)."""
        return self.zygote is not None and not self.zygote.alive()

    def poll(self) -> bool:
        """True while the process is alive (a pidfd turns readable when it exits)."""
        if self.killed:
            return False
        readable, _, _ = select.select([self.pidfd], [], [], 0)
        return not readable

    def send(self, message: Message) -> None:
        """Send a kernel -> worker message; ProtocolError if it breaks the schema (a kernel bug:
        the worker would refuse it)."""
        self.channel.send(validate(message, KERNEL_TO_WORKER))

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
        if message["type"] == "refused":
            layers = [LayerStatus.from_wire(layer) for layer in message["layers"]]
            failed = [layer for layer in layers if layer.state is LayerState.FAILED]
            why = "; ".join(f"{layer.name}: {layer.detail}" for layer in failed) or "no reason"
            raise WorkerRefused(f"a sandbox layer failed: {why}", layers)
        if message["type"] != "ready":
            raise ProtocolError(f"expected ready, got {message['type']}")
        self.runtime, self.version = message["runtime"], message["version"]
        self.layers = [LayerStatus.from_wire(layer) for layer in message["layers"]]


class Pool:
    """Hardened spare workers, ready before they are needed; a zygote that is kept alive."""

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
        # every worker forked by the current zygote: they all die with it
        self._forked: weakref.WeakSet[WorkerHandle] = weakref.WeakSet()
        self._watching: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quick_deaths = 0
        #: how many times the zygote was lost and replaced
        self.zygote_restarts = 0
        self._broken: str | None = None
        self._refused_in_a_row = 0

    def start(self) -> None:
        """Watch the zygote and start filling the pool (call on the kernel's loop)."""
        self._watch_zygote()
        self.refill()

    async def claim(self) -> WorkerHandle:
        """A ready worker: a spare at once if there is one, else the next one to start."""
        while True:
            while self._spares:
                worker = self._spares.pop(0)
                if worker.poll():
                    self._refill_behind_claim()
                    return worker
                worker.kill()  # it died while it waited (killed, or its zygote was lost)
            if self._broken is not None:
                raise WorkerLost(self._broken)
            self.refill(minimum=1)
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def _refill_behind_claim(self) -> None:
        """Replace a claimed spare: at once if the pool is now empty (the next claim would
        wait for it), else a little later, once the claiming cell has likely replied: forking
        and hardening a worker competes with the cell for the CPU (measured on 2 busy cores,
        cell isolation: ~8 ms a cell with the refill at once, ~4 ms with it delayed). An
        empty pool starts only the one worker the next claim needs at once, and the rest later
        too: the running cell then shares the CPU with one worker's start, not the pool's."""
        loop = asyncio.get_running_loop()
        if self._spares:
            loop.call_later(REFILL_DELAY_S, self.refill)
            return
        self.refill(at_most=1)
        if self.size > 1:
            loop.call_later(REFILL_DELAY_S, self.refill)

    def refill(self, minimum: int = 0, *, at_most: int | None = None) -> None:
        """Start workers in the background until `size` (at least `minimum`, at most
        `at_most`) are ready or on the way."""
        if self._closed or self._broken is not None:
            return
        target = max(self.size, minimum)
        if at_most is not None:
            target = min(target, at_most)
        while len(self._spares) + self._starting < target:
            self._starting += 1
            asyncio.get_running_loop().create_task(self._start_one())

    async def _start_one(self) -> None:
        error: BaseException | None = None
        zygote = self.zygote
        try:
            pid, pidfd, channel = await zygote.spawn(self.sandbox, self.memory)
            worker = WorkerHandle(pid=pid, pidfd=pidfd, channel=channel)
            worker.zygote = zygote
            self._forked.add(worker)
            try:
                await worker.wait_ready()
                zygote.served = True
                self._check_layers(worker.layers)
            except BaseException:
                worker.kill()
                raise
            self._refused_in_a_row = 0
            if self._closed or zygote is not self.zygote:
                worker.kill()
            else:
                self._spares.append(worker)
        except WorkerRefused as refused:
            error = self._refused(refused)
        except Exception as exc:
            if not zygote.alive() or zygote is not self.zygote or zygote.failure is not None:
                # not this worker's fault: the zygote went away under it (or said it cannot
                # start, and is exiting). Replace the zygote (if the watcher has not yet) and
                # let the waiters wait for the next worker.
                self.log.info("safekernel: a worker start was cut short by the zygote's loss")
                self._replace_zygote(zygote)
            else:
                self.log.error("safekernel: could not start a worker: %s", exc)
                error = exc
        finally:
            self._starting -= 1
        if error is None and self._waiters and not self._spares:
            self.refill(minimum=len(self._waiters))  # a refused start is retried, boundedly
        else:
            self._wake_waiters(error)

    def _refused(self, refused: WorkerRefused) -> BaseException | None:
        """A worker's sandbox was not acceptable (it never served). Fail closed: retry a few
        times (a fluke need not cost the kernel), then refuse every claim with the reason.
        Returns the error for the waiters, or None while a retry is due."""
        self._refused_in_a_row += 1
        self.last_layers = refused.layers
        self.log.error(
            "safekernel: a worker was refused (%d of %d in a row): %s",
            self._refused_in_a_row,
            MAX_REFUSED_STARTS,
            refused,
        )
        if self._refused_in_a_row < MAX_REFUSED_STARTS:
            return None
        self._broken = f"{refused}; restart the kernel once that is fixed (the kernel log has more)"
        return WorkerLost(self._broken)

    def _wake_waiters(self, error: BaseException | None) -> None:
        if error is None and self._broken is not None:
            error = WorkerLost(self._broken)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is not None and not self._spares:
                    waiter.set_exception(error)
                else:
                    waiter.set_result(None)

    # -- the zygote ------------------------------------------------------------------------
    def _watch_zygote(self) -> None:
        self._unwatch_zygote()
        self._loop = asyncio.get_running_loop()
        zygote = self.zygote
        self._loop.add_reader(zygote.pidfd, self._replace_zygote, zygote)
        self._watching = zygote.pidfd

    def _unwatch_zygote(self) -> None:
        if self._watching is not None and self._loop is not None:
            self._loop.remove_reader(self._watching)
            self._watching = None

    def _replace_zygote(self, dead: ZygoteProcess, lost: int = 0) -> None:
        """The zygote `dead` exited: end its workers, start a new zygote, refill. `lost`:
        workers of it already ended (by a call that had to wait for its spawn request)."""
        if dead is not self.zygote or self._closed or self._broken is not None:
            return
        self._unwatch_zygote()
        # at once: its workers died with it, and none may be handed another cell
        lost += self._drop_workers()
        if dead.spawning:
            # the spawn request's thread is reading the control socket, where a zygote that
            # could not start left its reason; it ends at once (that reason, or EOF)
            asyncio.get_running_loop().create_task(self._replace_after_spawn(dead, lost))
            return
        failure = self._end_zygote(dead, lost)
        # killed from outside after it worked is one thing; never getting a worker ready is
        # a broken zygote, and starting it again and again would only loop
        self._quick_deaths = 0 if dead.served else self._quick_deaths + 1
        if self._quick_deaths >= ZYGOTE_MAX_QUICK_DEATHS:
            # the zygote's own reason when it gave one (a guest not installed, or damaged:
            # what to install), as the one line every cell gets from now on
            self._broken = (
                f"{failure}; then restart the kernel"
                if failure
                else "the sandbox's zygote process keeps dying at start; restart the kernel "
                "(the kernel log says why)"
            )
            self.log.error("safekernel: %s", self._broken)
            self._wake_waiters(None)
            return
        self.log.info("safekernel: starting a new zygote")
        # started from the loop, which runs on the kernel's main thread: the zygote's
        # parent-death signal follows the thread that created it
        self.zygote = ZygoteProcess(dead.runtime, self.log, max_frame=dead.max_frame)
        self.zygote_restarts += 1
        self._watch_zygote()
        self.refill(minimum=len(self._waiters))

    async def _replace_after_spawn(self, dead: ZygoteProcess, lost: int) -> None:
        await dead.spawn_done()
        self._replace_zygote(dead, lost)

    def _drop_workers(self) -> int:
        """End the handles of every worker the current zygote forked; how many were live."""
        lost = [worker for worker in self._forked if not worker.killed]
        for worker in lost:
            worker.kill()
        self._forked = weakref.WeakSet()
        self._spares.clear()
        return len(lost)

    def _end_zygote(self, dead: ZygoteProcess, lost: int) -> str | None:
        """Reap a lost zygote; its reason, if it said why it could not start."""
        if dead.alive():
            dead.process.kill()
        lived = time.monotonic() - dead.started_at
        failure = dead.read_failure()
        dead.close()  # reaps it
        self.log.warning(
            "safekernel: the zygote (pid %d) died after %.1f s, taking %d worker(s) with it%s",
            dead.pid,
            lived,
            lost,
            f": {failure}" if failure else "",
        )
        return failure

    def _check_layers(self, layers: list[LayerStatus]) -> None:
        failed = [layer for layer in layers if layer.state is LayerState.FAILED]
        if failed:
            # our workers end instead of saying ready with a FAILED layer; a report that says
            # so anyway (or a malformed entry, read as FAILED) is refused whatever the options
            names = ", ".join(f"{layer.name}: {layer.detail}" for layer in failed)
            raise WorkerRefused(f"a worker reported failed sandbox layers ({names})", layers)
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
            raise WorkerRefused(
                f"require_all_layers is set and these sandbox layers are not active: {names}",
                layers,
            )

    async def close(self) -> None:
        self._closed = True
        # ipykernel runs shutdown on its control thread; a loop's readers belong to its own
        # thread, and once closed the pool ignores the zygote's exit anyway
        with contextlib.suppress(RuntimeError):
            if self._loop is asyncio.get_running_loop():
                self._unwatch_zygote()
        for worker in [*self._spares, *self._forked]:
            worker.kill()
        self._spares.clear()
        self.zygote.close()
