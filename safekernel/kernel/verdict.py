"""The verdict on one cell: how it ended, in one word any client can read without parsing
error text (nbclient, nbgrader, a course platform, `safekernel grade`).

Every execute_reply's metadata carries, beside `usage`:

  verdict   ok | error | time-limit | memory-limit | instruction-limit | output-limit |
            crashed | interrupted | refused
  state     kept | lost | restored   (the session's variables, as the cell left them)

and, once the session's worker has been replaced, on that cell and every later one:

  worker_replaced  [{"cell": N, "verdict": ..., "state": "lost" | "restored"}, ...]
                   (verdict "crashed" and "between_cells": true for a worker lost while idle,
                   reported at the next cell N)
  warning          one sentence per replacement, e.g. "state was restored after In [3] ..."

The names are a stable interface: a new kind of ending gets a new word, an old word never
changes meaning.
"""

from __future__ import annotations

from typing import Any

from safekernel.limits import StopKind

VERDICTS = (
    "ok",
    "error",
    "time-limit",
    "memory-limit",
    "instruction-limit",
    "output-limit",
    "crashed",
    "interrupted",
    "refused",
)
STATES = ("kept", "lost", "restored")

#: a limit's stop kind (limits.STOP_KINDS, HardStop.kind) -> verdict; anything else: crashed
_BY_STOP = {
    StopKind.TIME: "time-limit",
    StopKind.INTERRUPT: "interrupted",
    StopKind.OUTPUT: "output-limit",
    StopKind.MESSAGES: "output-limit",
    StopKind.DISPLAY: "output-limit",
    StopKind.MEMORY: "memory-limit",
    StopKind.INSTRUCTIONS: "instruction-limit",
}
#: how many replacements the metadata lists (the most recent ones)
MAX_REPLACEMENTS = 20


def verdict_for_stop(kind: StopKind) -> str:
    """The verdict of a cell a limit stopped (or whose worker was lost: `crash`, `protocol`)."""
    return _BY_STOP.get(kind, "crashed")


class Replacements:
    """The session's worker replacements so far, for the metadata of every later cell."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, cell: int, verdict: str, state: str, *, between_cells: bool = False) -> None:
        event: dict[str, Any] = {"cell": cell, "verdict": verdict, "state": state}
        if between_cells:
            event["between_cells"] = True
        self.events = [*self.events, event][-MAX_REPLACEMENTS:]

    def clear(self) -> None:
        self.events = []

    def metadata(self) -> dict[str, Any]:
        if not self.events:
            return {}
        return {
            "worker_replaced": [dict(event) for event in self.events],
            "warning": " ".join(_sentence(event) for event in self.events),
        }


def _sentence(event: dict[str, Any]) -> str:
    where = f"In [{event['cell']}]"
    when = f"before {where}" if event.get("between_cells") else f"at {where} ({event['verdict']})"
    if event["state"] == "restored":
        return f"The sandbox worker was replaced {when}; earlier variables were restored by replay."
    return f"The sandbox worker was replaced {when}; variables defined before it were lost."
