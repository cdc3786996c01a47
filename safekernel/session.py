"""One notebook's state on the kernel side: which worker holds its variables, the limits, and
how a cell's events reach the frontend.

Everything a worker sends has already passed the channel's schema check; here it is checked
again for meaning (MIME types, sizes, output caps) before it reaches the frontend. A worker
that breaks a hard limit, crashes or misbehaves is killed and the next cell gets a fresh one
from the pool at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from safekernel.errors import ProtocolError, WorkerLost
from safekernel.limits import HARD_KILL_GRACE_S, Limits, limit_message
from safekernel.magics import CellOptions
from safekernel.outputs import OutputCheck, Refused, metadata
from safekernel.pool import Pool, WorkerHandle
from safekernel.sandbox.report import LayerStatus

#: a worker whose stream output runs this far past its cap is ignoring the cap: it is ended
OUTPUT_KILL_FACTOR = 2
#: after an interrupt, a worker that has not finished the cell this long later is ended
INTERRUPT_GRACE_S = 1.0
#: complete / inspect / is_complete must answer within this (the worker stops itself sooner)
REQUEST_TIMEOUT_S = 3.0
#: longest answer to input() passed to the worker (a paste of a whole book is cut here)
MAX_INPUT_CHARS = 1024 * 1024


class Frontend(Protocol):
    """Where a cell's events go (the kernel publishes them on IOPub)."""

    def stream(self, name: str, text: str) -> None: ...

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None: ...

    def clear_output(self, wait: bool) -> None: ...

    def result(self, data: dict[str, Any]) -> None: ...

    async def input(self, prompt: str, password: bool) -> str | None: ...


@dataclass
class ExecuteOutcome:
    status: str = "ok"
    ename: str = ""
    evalue: str = ""
    traceback: list[str] = field(default_factory=list)
    usage: dict[str, float] = field(default_factory=dict)

    def fail(self, ename: str, evalue: str, traceback: list[str] | None = None) -> None:
        self.status, self.ename, self.evalue = "error", ename, evalue
        self.traceback = traceback if traceback is not None else [f"{ename}: {evalue}"]


class _CellRun:
    """The kernel's view of one running cell: deadlines and output accounting."""

    def __init__(self, limits: Limits) -> None:
        loop = asyncio.get_running_loop()
        self.limits = limits
        self.deadline = loop.time() + limits.timeout + HARD_KILL_GRACE_S
        self.interrupt_deadline: float | None = None
        self.output_bytes = 0
        self.output_cut = False
        self.outputs = OutputCheck()
        self.interrupted = asyncio.Event()

    def remaining(self) -> float:
        now = asyncio.get_running_loop().time()
        ends = [self.deadline]
        if self.interrupt_deadline is not None:
            ends.append(self.interrupt_deadline)
        return max(0.0, min(ends) - now)

    def hard_reason(self) -> str:
        if self.interrupt_deadline is not None and self.interrupt_deadline <= self.deadline:
            return "interrupt"
        return "time"


class Session:
    def __init__(self, pool: Pool, defaults: Limits, isolation: str, log: logging.Logger) -> None:
        self.pool = pool
        self.defaults = defaults
        self.isolation = isolation
        self.log = log
        self._worker: WorkerHandle | None = None
        self._running: tuple[WorkerHandle, _CellRun] | None = None
        self._next_id = 0
        self.last_usage: dict[str, float] = {}

    @property
    def layers(self) -> list[LayerStatus]:
        return self._worker.layers if self._worker else self.pool.last_layers

    async def start(self) -> None:
        self.pool.refill()

    async def ready(self) -> None:
        """Wait until a worker holds this session (so its layer report is known)."""
        await self._session_worker()

    async def _session_worker(self) -> WorkerHandle:
        if self._worker is None or not self._worker.poll():
            if self._worker is not None:
                self._worker.kill()
            self._worker = await self.pool.claim()
        return self._worker

    def reset(self) -> None:
        """Forget every variable: the next cell gets a fresh worker from the pool."""
        self._drop_session_worker()
        self.pool.refill()

    def _drop_session_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    # -- cells -----------------------------------------------------------------------------
    async def execute(self, code: str, options: CellOptions, frontend: Frontend) -> ExecuteOutcome:
        fresh = options.isolate or self.isolation == "cell"
        worker = await (self.pool.claim() if fresh else self._session_worker())
        self._next_id += 1
        run = _CellRun(options.limits)
        outcome = ExecuteOutcome()
        self._running = (worker, run)
        try:
            worker.send(
                {
                    "type": "execute",
                    "id": self._next_id,
                    "code": code,
                    "limits": options.limits.to_wire(),
                }
            )
            await self._pump(worker, run, frontend, outcome)
        except (WorkerLost, ProtocolError, TimeoutError) as exc:
            self._lose(worker, run, exc, outcome, state_kept=fresh)
        finally:
            self._running = None
            if fresh:
                worker.kill()
        self.last_usage = outcome.usage
        return outcome

    async def _pump(
        self, worker: WorkerHandle, run: _CellRun, frontend: Frontend, outcome: ExecuteOutcome
    ) -> None:
        while True:
            message = await asyncio.wait_for(worker.recv(), run.remaining())
            kind = message["type"]
            if kind == "stream":
                self._stream(worker, run, message, frontend)
            elif kind == "display":
                data = self._bundle(run, message["data"], frontend)
                if data:
                    frontend.display(
                        data,
                        metadata(message["metadata"], data),
                        message["display_id"][:200] if message["display_id"] else None,
                        message["update"],
                    )
            elif kind == "clear_output":
                frontend.clear_output(message["wait"])
            elif kind == "input_request":
                await self._input(worker, run, message, frontend)
            elif kind == "result":
                data = self._bundle(run, message["data"], frontend)
                if data:
                    frontend.result(data)
            elif kind == "error":
                outcome.fail(
                    message["ename"][:200],
                    message["evalue"][:10_000],
                    [line[:10_000] for line in message["traceback"][:100]],
                )
            elif kind == "done":
                outcome.usage = _usage(message["usage"])
                return
            else:
                raise ProtocolError(f"unexpected {kind} message during a cell")

    def _stream(
        self, worker: WorkerHandle, run: _CellRun, message: dict[str, Any], frontend: Frontend
    ) -> None:
        text: str = message["text"]
        room = run.limits.output - run.output_bytes
        run.output_bytes += len(text.encode("utf-8", errors="replace"))
        if run.output_bytes > OUTPUT_KILL_FACTOR * run.limits.output:
            raise ProtocolError("the worker kept printing past its output limit")
        if room > 0:
            frontend.stream(message["name"], text[:room])
        elif not run.output_cut:
            run.output_cut = True
            self.interrupt()

    async def _input(
        self, worker: WorkerHandle, run: _CellRun, message: dict[str, Any], frontend: Frontend
    ) -> None:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        answer = asyncio.ensure_future(
            frontend.input(message["prompt"][:10_000], message["password"])
        )
        interrupted = asyncio.ensure_future(run.interrupted.wait())
        await asyncio.wait({answer, interrupted}, return_when=asyncio.FIRST_COMPLETED)
        interrupted.cancel()
        run.deadline += loop.time() - asked
        if not answer.done():
            # the worker got the interrupt too: its input() fails and the cell stops
            answer.cancel()
            return
        value = answer.result()
        if value is not None:
            value = value[:MAX_INPUT_CHARS]
        if value is None:
            worker.send(
                {
                    "type": "input_reply",
                    "value": None,
                    "error": "this frontend does not accept input (stdin is off); run the cell "
                    "in JupyterLab, Notebook or jupyter console, or set the value in code",
                }
            )
        else:
            worker.send({"type": "input_reply", "value": value})

    def _bundle(
        self, run: _CellRun, data: dict[str, Any], frontend: Frontend
    ) -> dict[str, Any] | None:
        """The checked bundle, or None with one line on stderr saying why it was refused."""
        try:
            return run.outputs.bundle(data)
        except Refused as refused:
            frontend.stream("stderr", f"safekernel: {refused}\n")
            return None

    def _lose(
        self,
        worker: WorkerHandle,
        run: _CellRun,
        exc: Exception,
        outcome: ExecuteOutcome,
        state_kept: bool,
    ) -> None:
        """End a worker that broke a hard limit, died or misbehaved; say so plainly."""
        worker.kill()
        if worker is self._worker:
            self._worker = None
        self.pool.refill()
        if isinstance(exc, TimeoutError):
            outcome.fail(*limit_message(run.hard_reason(), run.limits, state_kept=state_kept))
            return
        kept = "" if state_kept else " The worker was replaced, so earlier variables are gone."
        if isinstance(exc, ProtocolError):
            self.log.warning("safekernel: worker %d ended: %s", worker.pid, exc)
            outcome.fail(
                "WorkerError", f"the sandbox worker misbehaved ({exc}) and was ended.{kept}"
            )
        else:
            outcome.fail(
                "WorkerCrashed",
                "the sandbox worker stopped unexpectedly (a crash or a resource limit such as "
                f"memory or CPU).{kept}",
            )

    def interrupt(self) -> None:
        """Stop the running cell: politely at once, by killing its worker if that fails."""
        if self._running is None:
            return
        worker, run = self._running
        if run.interrupt_deadline is None:
            run.interrupt_deadline = asyncio.get_running_loop().time() + INTERRUPT_GRACE_S
        run.interrupted.set()
        with contextlib.suppress(WorkerLost):
            worker.send({"type": "interrupt"})

    # -- editor requests -------------------------------------------------------------------
    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Ask the session's worker for a complete / inspect / is_complete reply content."""
        worker = await self._session_worker()
        self._next_id += 1
        request_id = self._next_id
        try:
            worker.send({"type": kind, "id": request_id, **fields})
            while True:
                message = await asyncio.wait_for(worker.recv(), REQUEST_TIMEOUT_S)
                if message["type"] == "reply" and message["id"] == request_id:
                    return message["content"]  # type: ignore[no-any-return]
                if message["type"] != "stream":
                    raise ProtocolError(f"unexpected {message['type']} while answering {kind}")
        except (WorkerLost, ProtocolError, TimeoutError) as exc:
            self.log.warning("safekernel: %s request failed: %s", kind, exc)
            self._drop_session_worker()
            self.pool.refill()
            return {"status": "error", "ename": "WorkerLost", "evalue": str(exc), "traceback": []}

    async def close(self) -> None:
        self._drop_session_worker()
        await self.pool.close()


def _usage(raw: dict[str, Any]) -> dict[str, float]:
    usage: dict[str, float] = {}
    for key in ("wall_s", "cpu_s", "instructions", "memory_bytes"):
        value = raw.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            usage[key] = float(value)
    return usage
