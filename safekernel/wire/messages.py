"""Every message on the wire, as one schema per direction; both ends decode through `validate`.

    kernel -> worker   execute, complete, inspect, is_complete, input_reply, interrupt, shutdown
    worker -> kernel   ready (or refused: a sandbox layer failed), stream, display,
                       clear_output, input_request, result, error, done, reply
    kernel -> zygote   spawn, shutdown
    zygote -> kernel   spawned (with the worker's channel and pidfd as SCM_RIGHTS), or failed
                       (its runtime cannot start here: why, in one line; then it exits)

A schema maps each field to the Python types it may hold; a field named in OPTIONAL may be
left out. A message with a missing field, a wrong type or a field no schema names raises
ProtocolError. The kernel treats every worker message as hostile, so worker -> kernel messages
also get checks for meaning (CHECKS); the worker and the zygote check what the kernel sends
too, so a kernel bug is a loud ProtocolError instead of a KeyError deep in a worker.

display and result carry `data`: {mime: str | bytes}; str for text types and application/json
(JSON text), bytes for image/png and image/jpeg (raw, base64-encoded by the kernel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from safekernel.errors import ProtocolError
from safekernel.limits import STOP_KINDS

Message = dict[str, Any]
Schema = Mapping[str, tuple[type, ...]]

_STR = (str,)
_INT = (int,)
_BOOL = (bool,)
_MAP = (dict,)
_LIST = (list,)
_NONE = type(None)

KERNEL_TO_WORKER: Mapping[str, Schema] = {
    "execute": {"id": _INT, "code": _STR, "limits": _MAP},
    "complete": {"id": _INT, "code": _STR, "cursor_pos": _INT},
    "inspect": {"id": _INT, "code": _STR, "cursor_pos": _INT, "detail_level": _INT},
    "is_complete": {"id": _INT, "code": _STR},
    # paused: the seconds the kernel's clock stood still for this input (the worker's moves by
    # exactly as much); reason: which limit the kernel stopped the cell for (a StopKind)
    "input_reply": {"value": (str, _NONE), "error": _STR, "paused": (float,)},
    "interrupt": {"reason": _STR},
    "shutdown": {},
}
WORKER_TO_KERNEL: Mapping[str, Schema] = {
    "ready": {"runtime": _STR, "version": _STR, "layers": _LIST},
    # instead of ready: a sandbox layer FAILED and the worker ended (fail closed)
    "refused": {"layers": _LIST},
    "stream": {"name": _STR, "text": _STR},
    "display": {"data": _MAP, "metadata": _MAP, "display_id": (str, _NONE), "update": _BOOL},
    "clear_output": {"wait": _BOOL},
    "input_request": {"prompt": _STR, "password": _BOOL},
    "result": {"data": _MAP},
    "error": {"ename": _STR, "evalue": _STR, "traceback": _LIST},
    "done": {"id": _INT, "status": _STR, "usage": _MAP, "stop": _STR},
    "reply": {"id": _INT, "content": _MAP},
}
KERNEL_TO_ZYGOTE: Mapping[str, Schema] = {
    "spawn": {"sandbox": _MAP, "memory": _INT},
    "shutdown": {},
}
ZYGOTE_TO_KERNEL: Mapping[str, Schema] = {
    "spawned": {"pid": _INT},
    "failed": {"reason": _STR},
}
#: (message type, field) pairs that may be absent
OPTIONAL = frozenset({("input_reply", "error"), ("input_reply", "paused"), ("interrupt", "reason")})

_STREAM_NAMES = frozenset({"stdout", "stderr"})
_DONE_STATUSES = frozenset({"ok", "error", "aborted"})
_DONE_STOPS = frozenset({"", *STOP_KINDS})


def _is_mime_data(data: dict[Any, Any]) -> bool:
    # text for text types and JSON (as JSON text); raw bytes for images, which the kernel
    # validates and base64-encodes itself (see kernel/outputs.py)
    return all(isinstance(k, str) and isinstance(v, str | bytes) for k, v in data.items())


def _check_done(message: Message) -> str | None:
    if message["status"] not in _DONE_STATUSES:
        return "done.status is not ok/error/aborted"
    if message["stop"] not in _DONE_STOPS:
        return "done.stop names no limit"
    return None


#: checks for meaning, per worker -> kernel message type: None if fine, else what is wrong
CHECKS: Mapping[str, Callable[[Message], str | None]] = {
    "stream": lambda m: (
        None if m["name"] in _STREAM_NAMES else "stream.name must be stdout or stderr"
    ),
    "done": _check_done,
    "error": lambda m: (
        None
        if all(isinstance(line, str) for line in m["traceback"])
        else "error.traceback must be a list of strings"
    ),
    "display": lambda m: (
        None if _is_mime_data(m["data"]) else "display.data must map MIME types to text or bytes"
    ),
    "result": lambda m: (
        None if _is_mime_data(m["data"]) else "result.data must map MIME types to text or bytes"
    ),
}


def validate(message: object, schemas: Mapping[str, Schema]) -> Message:
    """`message` if it is one of `schemas`' messages, field for field; else ProtocolError."""
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a map")
    kind = message.get("type")
    schema = schemas.get(kind) if isinstance(kind, str) else None
    if schema is None or not isinstance(kind, str):
        raise ProtocolError(f"unknown message type {kind!r}")
    for field, types in schema.items():
        if field not in message and (kind, field) in OPTIONAL:
            continue
        if not isinstance(message.get(field), types):
            raise ProtocolError(f"{kind}.{field} is missing or has the wrong type")
    extra = set(message) - set(schema) - {"type"}
    if extra:
        raise ProtocolError(f"{kind} has unexpected fields {sorted(extra)}")
    check = CHECKS.get(kind) if schemas is WORKER_TO_KERNEL else None
    problem = check(message) if check is not None else None
    if problem is not None:
        raise ProtocolError(problem)
    return message
