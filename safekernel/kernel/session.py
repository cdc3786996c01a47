"""One notebook's state on the kernel side: which worker holds its variables, the limits, and
how a cell's events reach the frontend.

Everything a worker sends has already passed the channel's schema check; here it is checked
again for meaning (MIME types, sizes, output caps) before it reaches the frontend. A worker
that breaks a hard limit, crashes or misbehaves is killed and the next cell gets a fresh one
from the pool at once. With replay on (replay.py), the session's successful cells are re-run
silently in the new worker so the user's variables come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import Any

from safekernel.errors import ProtocolError, SafeKernelError, WorkerLost
from safekernel.kernel.budget import CellOutput
from safekernel.kernel.cellrun import CellRun, ExecuteOutcome, HardStop
from safekernel.kernel.magics import CellOptions
from safekernel.kernel.pool import Pool, WorkerHandle
from safekernel.kernel.pump import pump
from safekernel.kernel.replay import (
    RecordingFrontend,
    ReplayLog,
    ReplayLost,
    ReplayReport,
    SilentFrontend,
    replay,
)
from safekernel.kernel.verdict import Replacements
from safekernel.limits import (
    DEFAULT_REPLAY_TIMEOUT_S,
    INTERRUPT_GRACE_S,
    KERNEL_REQUEST_TIMEOUT_S,
    Limits,
    StopKind,
)
from safekernel.wire.confinement import LayerStatus
from safekernel.wire.events import Frontend
from safekernel.wire.messages import KERNEL_TO_WORKER, validate

#: complete / inspect / is_complete must answer within this (the worker stops itself sooner)
REQUEST_TIMEOUT_S = KERNEL_REQUEST_TIMEOUT_S


class Session:
    def __init__(
        self,
        pool: Pool,
        defaults: Limits,
        isolation: str,
        log: logging.Logger,
        *,
        replay_on_reset: bool = False,
        replay_timeout: float = DEFAULT_REPLAY_TIMEOUT_S,
    ) -> None:
        self.pool = pool
        self.defaults = defaults
        self.isolation = isolation
        self.log = log
        self.replay_on_reset = replay_on_reset
        self.replay_timeout = replay_timeout
        self.replay_log = ReplayLog()
        self._worker: WorkerHandle | None = None
        #: why the session's worker was ended between cells, for the next cell's notice
        self._lost_reason = ""
        self._running: tuple[WorkerHandle, CellRun] | None = None
        self._next_id = 0
        self.last_usage: dict[str, float] = {}
        #: every replacement of the session's worker so far (every later reply reports them)
        self.replacements = Replacements()
        # One conversation with the worker at a time, on the loop of the thread that built the
        # session: a second one (a handler on another thread or loop, as ipykernel's subshell
        # and control threads are) would read the replies meant for the first.
        self._thread = threading.get_ident()
        self._turn = asyncio.Lock()

    @property
    def layers(self) -> list[LayerStatus]:
        return self._worker.layers if self._worker else self.pool.last_layers

    async def start(self) -> None:
        self.pool.start()

    async def ready(self) -> None:
        """Wait until a worker holds this session (so its layer report is known)."""
        if self._worker is None:
            self._worker = await self.pool.claim()

    async def _session_worker(
        self, frontend: Frontend, outcome: ExecuteOutcome, number: int
    ) -> WorkerHandle:
        """The worker holding the session's variables; if it was lost between cells, say so
        (and replay, when that is on) before the cell runs in a new one."""
        worker = self._worker
        if worker is not None and worker.poll():
            return worker
        if worker is not None:
            worker.kill()
            self._worker = None
            lost_zygote = "its zygote process was lost" if worker.lost_with_zygote() else ""
            reason = self._lost_reason or lost_zygote or "it was killed from outside"
            self._lost_reason = ""
            self.log.warning("safekernel: the session's worker was lost between cells: %s", reason)
            outcome.state, note = await self._restore()
            self.replacements.add(number, "crashed", outcome.state, between_cells=True)
            frontend.stream(
                "stderr",
                f"safekernel: the sandbox worker stopped between cells ({reason}). "
                + (note or "Earlier variables are gone: re-run the cells you need.")
                + "\n",
            )
        if self._worker is None:
            self._worker = await self.pool.claim()
        return self._worker

    def reset(self) -> None:
        """Forget every variable: the next cell gets a fresh worker from the pool."""
        self._drop_session_worker()
        # nothing from before the reset may come back through a replay
        self.replay_log.reset()
        self.replacements.clear()
        self.pool.refill()

    def _drop_session_worker(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def on_its_loop(self) -> bool:
        """True on the thread (and so the event loop) that owns this session and its worker."""
        return threading.get_ident() == self._thread

    def _own_turn(self) -> asyncio.Lock:
        if not self.on_its_loop():
            raise SafeKernelError("the session was called from another thread; nothing was run")
        return self._turn

    # -- cells -----------------------------------------------------------------------------
    async def execute(
        self, code: str, options: CellOptions, frontend: Frontend, number: int = 0
    ) -> ExecuteOutcome:
        """Run one cell; `number` is its execution count (it names the cell in messages)."""
        async with self._own_turn():
            return await self._execute(code, options, frontend, number)

    async def _execute(
        self,
        code: str,
        options: CellOptions,
        frontend: Frontend,
        number: int,
        *,
        retried: bool = False,
    ) -> ExecuteOutcome:
        isolated = options.isolate or self.isolation == "cell"
        outcome = ExecuteOutcome()
        worker = await (
            self.pool.claim() if isolated else self._session_worker(frontend, outcome, number)
        )
        recorder = RecordingFrontend(frontend) if self.replay_on_reset and not isolated else None
        started = asyncio.get_running_loop().time()
        try:
            await self._run_on(worker, code, options.limits, recorder or frontend, outcome)
        except HardStop as stop:
            if not retried and _lost_to_its_zygote(worker, stop):
                # the zygote died just before this cell (its workers die with it): not the
                # cell's doing, and nothing was shown, so run it again in a new worker; the
                # session's loss is reported as for any worker lost between cells
                self.log.warning("safekernel: the cell's worker died with its zygote; rerunning")
                worker.kill()
                if not isolated:
                    self._lost_reason = "its zygote process was lost"
                return await self._execute(code, options, frontend, number, retried=True)
            outcome.usage = {"wall_s": asyncio.get_running_loop().time() - started}
            await self._lose(worker, stop, options.limits, outcome, isolated)
            if not isolated:
                self.replacements.add(number, outcome.verdict, outcome.state)
        finally:
            if isolated:
                worker.kill()
        if recorder is not None and outcome.status == "ok":
            self.replay_log.record(recorder.logged(number, code, options.limits))
        self.last_usage = outcome.usage
        return outcome

    async def _run_on(
        self,
        worker: WorkerHandle,
        code: str,
        limits: Limits,
        frontend: Frontend,
        outcome: ExecuteOutcome,
    ) -> None:
        """Run `code` in `worker`; a cell that ends its worker raises HardStop."""
        self._next_id += 1
        run = CellRun(limits, self._next_id)
        self._running = (worker, run)
        output = CellOutput(frontend, limits, self.interrupt)
        try:
            worker.send(
                {"type": "execute", "id": run.request_id, "code": code, "limits": limits.to_wire()}
            )
            await pump(worker, run, output, outcome)
        except TimeoutError:
            raise HardStop(run.hard_reason()) from None
        except WorkerLost as exc:
            raise HardStop(
                run.stopped_by or StopKind.CRASH, str(exc), emitted=run.emitted
            ) from None
        except ProtocolError as exc:
            self.log.warning("safekernel: worker %d ended: %s", worker.pid, exc)
            raise HardStop(StopKind.PROTOCOL, str(exc)) from None
        finally:
            self._running = None
            output.finish()

    async def _lose(
        self,
        worker: WorkerHandle,
        stop: HardStop,
        limits: Limits,
        outcome: ExecuteOutcome,
        isolated: bool,
    ) -> None:
        """End a worker that broke a hard limit, died or misbehaved; say so plainly."""
        worker.kill()
        self.pool.refill()
        note = None
        if worker is self._worker:
            self._worker = None
            outcome.state, note = await self._restore()
        elif not isolated:
            outcome.state = "lost"
        outcome.fail_stopped(stop, limits, isolated=isolated, state_note=note)

    async def _restore(self) -> tuple[str, str | None]:
        """The session's worker is gone: replay its log into a new one, if replay is on.
        Returns the state ("restored" or "lost") and what to tell the user about their
        variables (None: they are simply gone)."""
        cells = self.replay_log.cells
        self.replay_log.reset()
        if not self.replay_on_reset:
            return "lost", None
        if not cells:
            return "restored", ReplayReport().sentence()
        self._worker = await self.pool.claim()
        report = await replay(cells, self._replay_one, self.replay_timeout)
        self.replay_log.reset(report.replayed)
        self.log.info(
            "safekernel: replayed %d cell(s), skipped %d%s",
            len(report.replayed),
            len(report.skipped),
            f", lost: {report.lost}" if report.lost else "",
        )
        whole = not report.lost and not report.skipped
        return ("restored" if whole else "lost"), report.sentence()

    async def _replay_one(self, code: str, limits: Limits, frontend: SilentFrontend) -> str:
        """Run one logged cell in the new session worker: "" if it succeeded, else its ename."""
        worker = self._worker
        if worker is None:
            raise ReplayLost("no worker")
        outcome = ExecuteOutcome()
        try:
            await self._run_on(worker, code, limits, frontend, outcome)
        except HardStop as stop:
            worker.kill()
            self._worker = None
            self.pool.refill()
            raise ReplayLost(stop.describe()) from None
        return outcome.ename if outcome.status == "error" else ""

    def interrupt(self, reason: StopKind = StopKind.INTERRUPT) -> None:
        """Stop the running cell: politely at once, by killing its worker if that fails."""
        if self._running is None:
            return
        worker, run = self._running
        if run.interrupt_deadline is None:
            loop = asyncio.get_running_loop()
            run.interrupt_deadline = loop.time() + INTERRUPT_GRACE_S
            run.stop_reason = reason
            loop.call_later(INTERRUPT_GRACE_S, self._end_unresponsive, worker, run)
        run.interrupted.set()
        with contextlib.suppress(WorkerLost):
            worker.send({"type": "interrupt", "reason": reason})

    def _end_unresponsive(self, worker: WorkerHandle, run: CellRun) -> None:
        """Still running after an interrupt: stuck in C, so only killing the worker stops it."""
        if self._running is not None and self._running[1] is run:
            loop = asyncio.get_running_loop()
            if run.interrupt_deadline is not None and run.interrupt_deadline > loop.time():
                # the grace was moved for the kernel's own lag (CellRun.charge_lag)
                delay = run.interrupt_deadline - loop.time()
                loop.call_later(delay, self._end_unresponsive, worker, run)
                return
            run.stopped_by = run.stop_reason
            worker.kill()  # the cell's pump sees the channel close at once

    # -- editor requests -------------------------------------------------------------------
    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Ask the session's worker for a complete / inspect / is_complete reply content."""
        async with self._own_turn():
            return await self._request(kind, **fields)

    async def _request(self, kind: str, **fields: Any) -> dict[str, Any]:
        if self._worker is None:
            self._worker = await self.pool.claim()
        worker = self._worker
        if not worker.poll():
            # the next cell notices the loss and tells the user; no silent swap here
            return {"status": "error", "ename": "WorkerLost", "evalue": "", "traceback": []}
        self._next_id += 1
        request_id = self._next_id
        request = {"type": kind, "id": request_id, **fields}
        try:
            validate(request, KERNEL_TO_WORKER)
        except ProtocolError as exc:
            # a client's request with fields of the wrong type: refused here, not sent on
            return {"status": "error", "ename": "BadRequest", "evalue": str(exc), "traceback": []}
        loop = asyncio.get_running_loop()
        # one deadline for the whole request: output the worker sends meanwhile (dropped: no
        # cell is running) must not buy it more time
        deadline = loop.time() + REQUEST_TIMEOUT_S
        try:
            worker.send(request)
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(worker.recv(), left)
                if message["type"] == "reply":
                    if message["id"] != request_id:
                        raise ProtocolError(f"a reply to request {message['id']} answered {kind}")
                    return message["content"]  # type: ignore[no-any-return]
                if message["type"] != "stream":
                    raise ProtocolError(f"unexpected {message['type']} while answering {kind}")
        except (WorkerLost, ProtocolError, TimeoutError) as exc:
            self.log.warning("safekernel: %s request failed: %s", kind, exc)
            self._lost_reason = f"a {kind} request failed: {exc or 'no answer in time'}"
            worker.kill()
            self.pool.refill()
            return {"status": "error", "ename": "WorkerLost", "evalue": str(exc), "traceback": []}

    async def close(self) -> None:
        self._drop_session_worker()
        await self.pool.close()


def _lost_to_its_zygote(worker: WorkerHandle, stop: HardStop) -> bool:
    return stop.kind == StopKind.CRASH and not stop.emitted and worker.lost_with_zygote()
