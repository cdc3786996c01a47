"""One running cell's messages, from its worker to the frontend. Each has passed the wire's
schema; here it is checked again for meaning (MIME types, sizes, the cell's budgets in
budget.py) before it reaches the frontend, input() is relayed both ways, and the worker's
`done` ends the cell. Anything a worker may not send raises ProtocolError: the session then
ends that worker."""

from __future__ import annotations

import asyncio
from typing import Any

from safekernel.errors import ProtocolError
from safekernel.kernel.budget import CellOutput
from safekernel.kernel.cellrun import CellRun, ExecuteOutcome
from safekernel.kernel.outputs import Refused, metadata
from safekernel.kernel.pool import WorkerHandle
from safekernel.kernel.usage import parse_usage
from safekernel.kernel.verdict import verdict_for_stop
from safekernel.limits import StopKind
from safekernel.wire.events import Frontend

#: longest answer to input() passed to the worker (a paste of a whole book is cut here)
MAX_INPUT_CHARS = 1024 * 1024


async def pump(
    worker: WorkerHandle, run: CellRun, output: CellOutput, outcome: ExecuteOutcome
) -> None:
    """Relay one running cell's messages until its `done`; raises ProtocolError (or
    TimeoutError, WorkerLost) for a worker that must be ended."""
    loop = asyncio.get_running_loop()
    while True:
        message = await asyncio.wait_for(worker.recv(), run.remaining())
        kind = message["type"]
        run.emitted = run.emitted or kind not in ("error", "done")
        if kind == "input_request":
            await _input(worker, run, message, output)
            continue
        began = loop.time()
        if kind == "stream":
            output.stream(message["name"], message["text"])
        elif kind == "display":
            data = _bundle(run, message["data"], output)
            if data:
                output.display(
                    data,
                    metadata(message["metadata"], data),
                    message["display_id"][:200] if message["display_id"] else None,
                    message["update"],
                )
        elif kind == "clear_output":
            output.clear_output(message["wait"])
        elif kind == "result":
            data = _bundle(run, message["data"], output)
            if data:
                output.result(data)
        elif kind == "error":
            outcome.fail(
                message["ename"][:200],
                message["evalue"][:10_000],
                [line[:10_000] for line in message["traceback"][:100]],
            )
        elif kind == "done":
            if message["id"] != run.request_id:
                raise ProtocolError(f"a done for request {message['id']} ended this cell")
            outcome.usage = parse_usage(message["usage"])
            if message["stop"]:
                # the worker stopped the cell itself; an interrupt the kernel sent because
                # the worker printed past its cap is the output limit's doing
                stop = StopKind(message["stop"])
                if stop == StopKind.INTERRUPT and run.interrupt_deadline is not None:
                    stop = run.stop_reason
                outcome.verdict = verdict_for_stop(stop)
            return
        else:
            raise ProtocolError(f"unexpected {kind} message during a cell")
        run.charge_lag(loop.time() - began)


async def _input(
    worker: WorkerHandle, run: CellRun, message: dict[str, Any], frontend: Frontend
) -> None:
    loop = asyncio.get_running_loop()
    asked = loop.time()
    answer = asyncio.ensure_future(frontend.input(message["prompt"][:10_000], message["password"]))
    interrupted = asyncio.ensure_future(run.interrupted.wait())
    await asyncio.wait({answer, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    interrupted.cancel()
    # the worker's clock stands still from its input_request to this reply; it moves its
    # deadline by exactly what the kernel grants here (`paused`), never by what it measured
    # itself, which includes both messages' trips: a loop of inputs would otherwise drift
    # the two clocks apart until the kernel hard-killed a cell the worker would stop softly
    paused = loop.time() - asked
    run.pause(paused)
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
                "paused": paused,
            }
        )
    else:
        worker.send({"type": "input_reply", "value": value, "paused": paused})


def _bundle(run: CellRun, data: dict[str, Any], output: CellOutput) -> dict[str, Any] | None:
    """The checked bundle, or None with one line on stderr saying why it was refused
    (once per kind of refusal: the notices are the cell's output too)."""
    if output.cut is not None:
        output.received()
        return None  # nothing more of this cell is published: do not spend a check on it
    try:
        bundle = run.outputs.bundle(data)
    except Refused as refused:
        output.notice(refused.kind, str(refused))
        if refused.kind == "cell-total":
            output.stop_cell(StopKind.DISPLAY)
        return None
    for kind, text in run.outputs.notes():
        output.notice(kind, text)
    return bundle
