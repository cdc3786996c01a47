"""One cell's output budget: every message the kernel publishes on a cell's behalf passes it
on its way to the Frontend (kernel/iopub.py on IOPub).

A cell is charged for everything: the stream text its worker prints, its displays and display
updates, clear_output, its value, and the kernel's own notices about outputs it refused. Bytes
are bounded (stream text and notices by `Limits.output`; rich output by outputs.OutputCheck)
and so are messages (`Limits.messages`), since a flood of tiny messages costs the frontend and
the IOPub backlog as much as a few large ones. Past either budget nothing more of the cell is
published and the cell is stopped, softly through its worker (`stop`), like the output limit.

Floods that are cheap to make harmless are made harmless instead of stopped:
  * display updates past UPDATE_BURST are coalesced, keeping the latest per display id and
    sending the pending ones every UPDATE_INTERVAL_S (and when anything else is sent, so the
    order the frontend sees is the order the cell made them);
  * a clear_output right after another (nothing sent between) changes nothing and is dropped;
  * each kind of refusal is explained once (NOTICES_PER_KIND), then only counted, and one line
    at the end of the cell says how many more there were.
The cell's reply, its error and the final `status: idle` are sent by ipykernel outside this
budget: they are never dropped (see app.py for the IOPub socket's high-water mark).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from safekernel.errors import ProtocolError
from safekernel.limits import (
    NOTICES_PER_KIND,
    PENDING_UPDATE_IDS,
    UPDATE_BURST,
    UPDATE_INTERVAL_S,
    Limits,
    StopKind,
)
from safekernel.wire.events import Frontend

#: a worker whose stream output runs this far past its cap is ignoring the cap: it is ended
OUTPUT_KILL_FACTOR = 2
#: messages a worker may still send once its cell was cut (those already in the channel when
#: the stop reached it: tens of thousands of tiny ones fit in a socket's buffers); past this it
#: is ignoring the stop and is ended (the interrupt's grace ends it soon anyway)
AFTER_CUT_MESSAGES = 100_000


class CellOutput:
    """One cell's view of the frontend, with its message and byte budget (a Frontend itself)."""

    def __init__(
        self, frontend: Frontend, limits: Limits, stop: Callable[[StopKind], None]
    ) -> None:
        self._frontend = frontend
        self.limits = limits
        self._stop = stop
        #: messages published for the cell so far
        self.messages = 0
        #: stream bytes charged to the cell (the worker's and the kernel's notices)
        self.stream_bytes = 0
        #: why nothing more of this cell is published ("output", "messages", "display")
        self.cut: StopKind | None = None
        #: messages the worker sent after the cut (a worker that ignores its stop is ended)
        self._after_cut = 0
        #: the wait flag of a clear_output with nothing published after it, if there is one
        self._last_clear: bool | None = None
        self._updates = 0
        self._pending: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._flush_timer: asyncio.TimerHandle | None = None
        self._noticed: Counter[str] = Counter()
        self._unexplained = 0
        self._finished = False

    # -- the budget ------------------------------------------------------------------------
    def _admit(self) -> bool:
        """Whether one more message may be published; charges it if so."""
        if self.cut is not None or self._finished:
            return False
        if self.messages >= self.limits.messages:
            self.stop_cell(StopKind.MESSAGES)
            return False
        self.messages += 1
        self._last_clear = None
        return True

    def stop_cell(self, kind: StopKind) -> None:
        """Publish nothing more of this cell and ask its worker to stop (first reason wins)."""
        if self.cut is None:
            self.cut = kind
            self._pending.clear()
            self._stop(kind)

    def received(self) -> None:
        """Count a worker message that wants publishing; past the cut, the worker's stop has
        had time to act, so a worker that keeps flooding is misbehaving."""
        if self.cut is not None:
            self._after_cut += 1
            if self._after_cut > AFTER_CUT_MESSAGES:
                raise ProtocolError("the worker kept sending output after it was stopped")

    def _charge_stream(self, text: str) -> str:
        """Charge stream text; returns the part that fits in the cell's byte budget."""
        size = len(text.encode("utf-8", errors="replace"))
        room = self.limits.output - self.stream_bytes
        self.stream_bytes += size
        if self.stream_bytes > OUTPUT_KILL_FACTOR * self.limits.output:
            raise ProtocolError("the worker kept printing past its output limit")
        if self.stream_bytes > self.limits.output:
            self.stop_cell(StopKind.OUTPUT)
        return text[: max(0, room)] if size > room else text

    # -- Frontend --------------------------------------------------------------------------
    def stream(self, name: str, text: str) -> None:
        self.received()
        part = self._charge_stream(text)
        if part:
            self._publish_stream(name, part)

    def _publish_stream(self, name: str, text: str) -> None:
        self._flush_updates()
        # a cut that happened while charging this very text still lets its first part out
        if self.cut in (None, StopKind.OUTPUT) and not self._finished:
            if self.messages >= self.limits.messages:
                self.stop_cell(StopKind.MESSAGES)
                return
            self.messages += 1
            self._last_clear = None
            self._frontend.stream(name, text)

    def notice(self, kind: str, text: str) -> None:
        """The kernel's own line on stderr (e.g. why an output was refused), once per kind."""
        if self._noticed[kind] >= NOTICES_PER_KIND:
            self._unexplained += 1
            return
        self._noticed[kind] += 1
        line = f"safekernel: {text}\n"
        if self.cut is None and self._charge_stream(line) == line:
            self._publish_stream("stderr", line)

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        self.received()
        if update and display_id is not None:
            self._update(data, metadata, display_id)
            return
        self._flush_updates()
        if self._admit():
            self._frontend.display(data, metadata, display_id, False)

    def _update(self, data: dict[str, Any], metadata: dict[str, Any], display_id: str) -> None:
        self._updates += 1
        if self._updates <= UPDATE_BURST and not self._pending:
            if self._admit():
                self._frontend.display(data, metadata, display_id, True)
            return
        if self.cut is not None:
            return
        if display_id in self._pending or len(self._pending) < PENDING_UPDATE_IDS:
            self._pending[display_id] = (data, metadata)
        if self._flush_timer is None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(UPDATE_INTERVAL_S, self._flush_updates)

    def _flush_updates(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        pending, self._pending = self._pending, {}
        for display_id, (data, metadata) in pending.items():
            if self._admit():
                self._frontend.display(data, metadata, display_id, True)

    def clear_output(self, wait: bool) -> None:
        self.received()
        self._flush_updates()
        last = self._last_clear
        if last is not None and (wait or not last):
            return  # nothing was published since the last clear: this one changes nothing
        if self._admit():
            self._frontend.clear_output(wait)
            self._last_clear = wait

    def result(self, data: dict[str, Any]) -> None:
        self.received()
        self._flush_updates()
        if self._admit():
            self._frontend.result(data)

    async def input(self, prompt: str, password: bool) -> str | None:
        self._flush_updates()
        return await self._frontend.input(prompt, password)

    # -- the end of the cell ---------------------------------------------------------------
    def finish(self) -> None:
        """Publish what is pending and the count of unexplained refusals; nothing after."""
        if self._finished:
            return
        self._flush_updates()
        if self._unexplained:
            more = self._unexplained
            self._unexplained = 0
            self.notice(
                "summary",
                f"{more} more output{'s were' if more > 1 else ' was'} refused (for the reasons "
                "above)",
            )
        self._finished = True
