"""The worker's loop: harden, say ready, then take one request at a time from the kernel and
run it in the runtime, sending events back as they happen.

Threads, all started after the pre-thread sandbox layers (see sandbox/__init__.py):
  main      runs the request (Lua runs here, with the GIL released); in a worker forked from
            a resident state (python: see Runtime.hold) the main thread is the state's own
            and a `worker` thread runs the requests instead
  reader    reads the channel; an `interrupt` is acted on at once, everything else is queued
  watchdog  ticks while a request runs: flushes batched output and fires the time limit
The worker never imports ipykernel or zmq; it holds no secret and trusts nothing but the kernel.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from safekernel.errors import SafeKernelError
from safekernel.limits import FLUSH_INTERVAL_S, WORKER_REQUEST_TIMEOUT_S, Limits, StopKind
from safekernel.runtimes import CellOutcome, Runtime, create_runtime
from safekernel.sandbox import LayerFailed, SandboxConfig, confine
from safekernel.wire.channel import BlockingChannel, Message
from safekernel.wire.events import EventSink

#: output is batched into one stream message per FLUSH_INTERVAL_S (or per MAX_BATCH bytes)
MAX_BATCH = 64 * 1024
#: complete / inspect / is_complete get this long before the watchdog stops them (the kernel
#: waits longer: limits.KERNEL_REQUEST_TIMEOUT_S)
REQUEST_TIMEOUT_S = WORKER_REQUEST_TIMEOUT_S
#: why the kernel may stop a cell (its `interrupt` message says which; the error names it)
KERNEL_STOP_REASONS = frozenset(
    {StopKind.INTERRUPT, StopKind.OUTPUT, StopKind.MESSAGES, StopKind.DISPLAY}
)
#: exit status of a worker whose sandbox layer FAILED (it said `refused`, never `ready`)
EXIT_LAYER_FAILED = 72
#: completions sent back at most (the kernel shows as many; a table with a million keys must
#: not make a reply larger than the kernel's decoder accepts, which would end this worker)
MAX_MATCHES = 1000


class Outbox:
    """Everything the worker sends goes through here, in order. Stream text is batched."""

    def __init__(self, channel: BlockingChannel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._name = ""
        self._parts: list[str] = []
        self._size = 0

    def stream(self, name: str, text: str) -> None:
        with self._lock:
            if self._parts and name != self._name:
                self._flush_locked()
            self._name = name
            # one print may be as large as the output limit: split it, so no frame comes near
            # the kernel's cap on the size of a worker message
            for start in range(0, len(text), MAX_BATCH):
                piece = text[start : start + MAX_BATCH]
                self._parts.append(piece)
                self._size += len(piece)
                if self._size >= MAX_BATCH:
                    self._flush_locked()

    def post(self, message: Message) -> None:
        """Send `message` behind any batched stream text, so the kernel sees them in order."""
        with self._lock:
            self._flush_locked()
            self._channel.send(message)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts, self._size = [], 0
            self._channel.send({"type": "stream", "name": self._name, "text": text})


class Watchdog:
    """Ticks while a request runs: flushes output, and stops the runtime at its deadline."""

    def __init__(self, runtime: Runtime, outbox: Outbox) -> None:
        self._runtime = runtime
        self._outbox = outbox
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._paused_at = 0.0

    def start(self, seconds: float) -> None:
        with self._cond:
            self._deadline = time.monotonic() + seconds
            self._cond.notify()

    def pause(self) -> float | None:
        """Stop the clock (while the user types an input); returns the time that was left."""
        with self._cond:
            self._paused_at = time.monotonic()
            left = None if self._deadline is None else self._deadline - self._paused_at
            self._deadline = None
            return left

    def resume(self, left: float | None, granted: float) -> None:
        """Restart the clock, `granted` seconds later than where it stood: the pause the kernel
        counted (its own deadline moves by exactly that), so the two clocks never drift."""
        with self._cond:
            if left is not None:
                self._deadline = self._paused_at + left + granted
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._deadline = None

    def run(self) -> None:
        while True:
            with self._cond:
                while self._deadline is None:
                    self._cond.wait()
                self._cond.wait(FLUSH_INTERVAL_S)
                expired = self._deadline is not None and time.monotonic() >= self._deadline
            self._outbox.flush()
            self._runtime.sample()
            if expired:
                self._runtime.interrupt(StopKind.TIME)


class Sink(EventSink):
    """The runtime's EventSink: turns side effects into channel messages."""

    def __init__(self, outbox: Outbox, inbox: queue.Queue[Message], watchdog: Watchdog) -> None:
        self._outbox = outbox
        self._inbox = inbox
        self._watchdog = watchdog

    def stream(self, name: str, text: str) -> None:
        self._outbox.stream(name, text)

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        self._outbox.post(
            {
                "type": "display",
                "data": data,
                "metadata": metadata,
                "display_id": display_id,
                "update": update,
            }
        )

    def clear_output(self, wait: bool) -> None:
        self._outbox.post({"type": "clear_output", "wait": wait})

    def input(self, prompt: str, password: bool) -> str:
        # waiting for the user's input does not count against the cell's time
        left = self._watchdog.pause()
        reply: Message = {}
        try:
            self._outbox.post({"type": "input_request", "prompt": prompt, "password": password})
            reply = self._inbox.get()
        finally:
            granted = reply.get("paused")
            self._watchdog.resume(left, granted if isinstance(granted, float) else 0.0)
        if reply.get("type") != "input_reply":
            raise SafeKernelError("input was interrupted")
        value = reply.get("value")
        if not isinstance(value, str):
            raise SafeKernelError(str(reply.get("error") or "the frontend sent no input"))
        return value


class Worker:
    def __init__(self, runtime: Runtime, channel: BlockingChannel) -> None:
        self.runtime = runtime
        self.channel = channel
        self.outbox = Outbox(channel)
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.watchdog = Watchdog(runtime, self.outbox)
        self.sink = Sink(self.outbox, self.inbox, self.watchdog)
        #: set once `ready` is sent: nothing else may go out before it
        self.ready = threading.Event()

    def start_threads(self, *, serve: bool = False) -> None:
        """The reader and the watchdog; with `serve`, the request loop too (the main thread
        belongs to a resident runtime state), which waits until `ready` has been sent."""
        threading.Thread(target=fail_closed(self._read), name="reader", daemon=True).start()
        threading.Thread(
            target=fail_closed(self.watchdog.run), name="watchdog", daemon=True
        ).start()
        if serve:
            threading.Thread(
                target=fail_closed(self._serve_when_ready), name="worker", daemon=True
            ).start()

    def _serve_when_ready(self) -> None:
        self.ready.wait()
        self.serve()

    def _read(self) -> None:
        try:
            while True:
                message = self.channel.recv()
                if message["type"] == "interrupt":
                    reason = message.get("reason")
                    self.runtime.interrupt(
                        StopKind(reason) if reason in KERNEL_STOP_REASONS else StopKind.INTERRUPT
                    )
                self.inbox.put(message)
        except Exception:
            # the kernel is gone (or spoke nonsense): nobody is left to serve
            os._exit(0)

    def serve(self) -> NoReturn:
        while True:
            message = self.inbox.get()
            kind = message["type"]
            if kind == "shutdown":
                self.outbox.flush()
                os._exit(0)
            if kind == "execute":
                self._execute(message)
            elif kind in ("complete", "inspect", "is_complete"):
                self._answer(message)
            # interrupts and stray input replies between cells need no answer

    def _execute(self, message: Message) -> None:
        limits = Limits.from_wire(message["limits"])
        self.watchdog.start(limits.timeout)
        try:
            outcome = self.runtime.execute(str(message["code"]), limits, self.sink)
        finally:
            self.watchdog.stop()
        self._send_outcome(int(message["id"]), outcome)

    def _send_outcome(self, cell_id: int, outcome: CellOutcome) -> None:
        if outcome.result is not None:
            self.outbox.post({"type": "result", "data": outcome.result})
        if outcome.error is not None:
            error = outcome.error
            self.outbox.post(
                {
                    "type": "error",
                    "ename": error.ename,
                    "evalue": error.evalue,
                    "traceback": error.traceback,
                }
            )
        self.outbox.post(
            {
                "type": "done",
                "id": cell_id,
                "status": outcome.status,
                "usage": outcome.usage,
                "stop": outcome.stop or "",
            }
        )

    def _answer(self, message: Message) -> None:
        kind = message["type"]
        self.watchdog.start(REQUEST_TIMEOUT_S)
        try:
            if kind == "complete":
                content = self.runtime.complete(message["code"], int(message["cursor_pos"]))
            elif kind == "inspect":
                content = self.runtime.inspect(
                    message["code"], int(message["cursor_pos"]), int(message["detail_level"])
                )
            else:
                content = self.runtime.is_complete(message["code"])
        except Exception as exc:  # a reply must always come back, or the kernel waits
            content = {
                "status": "error",
                "ename": type(exc).__name__,
                "evalue": str(exc),
                "traceback": [],
            }
        finally:
            self.watchdog.stop()
        matches = content.get("matches")
        if isinstance(matches, list):
            content["matches"] = matches[:MAX_MATCHES]
        self.outbox.post({"type": "reply", "id": int(message["id"]), "content": content})


def fail_closed(target: Callable[[], object]) -> Callable[[], None]:
    """A worker thread that fails (say, MemoryError at the address-space backstop) ends the
    worker at once: the kernel then reports a replaced worker instead of waiting on a worker
    that can no longer flush output or stop its cell."""

    def run() -> None:
        try:
            target()
        except BaseException:
            os._exit(71)

    return run


def run_worker(
    sock: socket.socket,
    runtime_name: str,
    config: SandboxConfig,
    memory: int,
    *,
    template: Runtime | None = None,
    seed: bytes = b"",
) -> NoReturn:
    """Entry point in a freshly forked child of the zygote. Never returns.

    `template` is the zygote's runtime state, this process's own copy since the fork; without
    one the worker builds its state itself.
    """
    try:
        worker = _confined_worker(sock, runtime_name, config, memory, template=template, seed=seed)
        worker.serve()
    except BaseException:
        os._exit(70)


def start_worker(
    sock: socket.socket,
    runtime_name: str,
    config: SandboxConfig,
    memory: int,
    *,
    template: Runtime,
    seed: bytes,
) -> None:
    """Entry point in a child forked from inside a resident state (Runtime.hold): the same
    confinement and `ready` as run_worker, but the worker's loop runs on a thread of its own
    and this returns, so the main thread goes back into the state it carried through the fork.

    Every layer still applies to every thread: harden() runs here on the main thread before
    any other thread exists (Landlock, no_new_privs, capabilities and the network namespace
    are per thread and inherited by threads started later), and seccomp uses TSYNC after the
    threads exist (tests/test_python_zygote.py reads each thread's status)."""
    try:
        template.adopt_memory_limit(memory)
        _confined_worker(
            sock, runtime_name, config, memory, template=template, seed=seed, serve_thread=True
        )
    except BaseException:
        os._exit(70)


def _confined_worker(
    sock: socket.socket,
    runtime_name: str,
    config: SandboxConfig,
    memory: int,
    *,
    template: Runtime | None,
    seed: bytes,
    serve_thread: bool = False,
) -> Worker:
    """Harden, make the runtime this worker's own, start the worker's threads, lock down and
    say `ready`; or say `refused` and exit if a layer failed."""
    channel = BlockingChannel(sock)
    holder: list[Worker] = []

    def start_threads() -> None:
        # the Lua state is built (or, copied from the zygote, made this worker's own) once
        # no inherited fd or environment is left to find, and before seccomp, which the
        # first allocations of a fresh state do not need anyway
        if template is not None:
            template.after_fork(seed)
            runtime: Runtime = template
        else:
            runtime = create_runtime(runtime_name, memory, config.data_dir)
            # a runtime built here starts its own threads (if any) now, as a template does
            runtime.after_fork(seed)
        worker = Worker(runtime, channel)
        worker.start_threads(serve=serve_thread)
        holder.append(worker)

    try:
        layers = confine(config, sock.fileno(), start_threads)
    except LayerFailed as failed:
        # fail closed: no cell ever runs here; the kernel learns which layer and why
        report = {"type": "refused", "layers": [layer.to_wire() for layer in failed.layers]}
        if holder:
            holder[0].outbox.post(report)
        else:
            channel.send(report)
        os._exit(EXIT_LAYER_FAILED)
    worker = holder[0]
    runtime = worker.runtime
    worker.outbox.post(
        {
            "type": "ready",
            "runtime": runtime.name,
            "version": runtime.version,
            "layers": [layer.to_wire() for layer in [*runtime.walls(), *layers]],
        }
    )
    worker.ready.set()
    return worker
