"""The kernel <-> worker channel: framing and message schemas, shared by both sides.

A frame is a 4-byte big-endian length followed by one msgpack map (data only, never pickle).
The kernel treats every worker message as hostile: `decode_from_worker` checks the size cap,
the message type and the type of every field, and raises ProtocolError on anything else, which
ends that worker.

kernel -> worker: execute, complete, inspect, is_complete, input_reply, interrupt, shutdown
worker -> kernel: ready (or refused: a sandbox layer failed), stream, display, clear_output,
                  input_request, result, error, done, reply

display and result carry `data`: {mime: str | bytes}; str for text types and application/json
(JSON text), bytes for image/png and image/jpeg (raw, base64-encoded by the kernel).

The kernel's asyncio end lives in asyncchannel.py: the zygote and every worker import this
module, and asyncio alone would add ~30 ms to the zygote's start and ~5 MB to its memory.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import msgpack

from safekernel.errors import ProtocolError, WorkerLost

HEADER = struct.Struct(">I")
#: Largest frame either side accepts by default; a worker that sends more is ended.
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
#: The smallest cap a kernel may set: output travels in 64 KB batches, so printing always works;
#: results and error messages (cut at 256 KB each by the runtime) need a cap of 1M or more.
MIN_MAX_FRAME = 128 * 1024

Message = dict[str, Any]

# field name -> accepted Python types, per worker -> kernel message type
_STR = (str,)
_WORKER_SCHEMAS: dict[str, dict[str, tuple[type, ...]]] = {
    "ready": {"runtime": _STR, "version": _STR, "layers": (list,)},
    # instead of ready: a sandbox layer FAILED and the worker ended (fail closed)
    "refused": {"layers": (list,)},
    "stream": {"name": _STR, "text": _STR},
    "display": {
        "data": (dict,),
        "metadata": (dict,),
        "display_id": (str, type(None)),
        "update": (bool,),
    },
    "clear_output": {"wait": (bool,)},
    "input_request": {"prompt": _STR, "password": (bool,)},
    "result": {"data": (dict,)},
    "error": {"ename": _STR, "evalue": _STR, "traceback": (list,)},
    "done": {"id": (int,), "status": _STR, "usage": (dict,)},
    "reply": {"id": (int,), "content": (dict,)},
}
_STREAM_NAMES = frozenset({"stdout", "stderr"})
_DONE_STATUSES = frozenset({"ok", "error", "aborted"})


def encode(message: Message) -> bytes:
    body: bytes = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def _unpack(body: bytes) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None


def decode_from_worker(body: bytes) -> Message:
    """Decode and validate one worker frame; anything off raises ProtocolError."""
    message = _unpack(body)
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a map")
    kind = message.get("type")
    schema = _WORKER_SCHEMAS.get(kind) if isinstance(kind, str) else None
    if schema is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    for field, types in schema.items():
        if not isinstance(message.get(field), types):
            raise ProtocolError(f"{kind}.{field} is missing or has the wrong type")
    extra = set(message) - set(schema) - {"type"}
    if extra:
        raise ProtocolError(f"{kind} has unexpected fields {sorted(extra)}")
    if kind == "stream" and message["name"] not in _STREAM_NAMES:
        raise ProtocolError("stream.name must be stdout or stderr")
    if kind == "done" and message["status"] not in _DONE_STATUSES:
        raise ProtocolError("done.status is not ok/error/aborted")
    if kind == "error" and not all(isinstance(line, str) for line in message["traceback"]):
        raise ProtocolError("error.traceback must be a list of strings")
    if kind in ("display", "result") and not _is_mime_data(message["data"]):
        raise ProtocolError(f"{kind}.data must map MIME types to text or bytes")
    return message


def _is_mime_data(data: dict[Any, Any]) -> bool:
    # text for text types and JSON (as JSON text); raw bytes for images, which the kernel
    # validates and base64-encodes itself (see outputs.py)
    return all(isinstance(k, str) and isinstance(v, str | bytes) for k, v in data.items())


def decode_typed(body: bytes) -> Message:
    """A frame from a trusted peer (kernel -> worker, zygote -> kernel): just a typed map."""
    message = _unpack(body)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("frame is not a typed map")
    return message


decode_from_kernel = decode_typed


class BlockingChannel:
    """The worker's end: blocking reads and writes on an already-connected socket.

    Writes come from two threads (the cell thread and the output flusher), so the caller
    serialises them; see worker.Outbox.
    """

    def __init__(self, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.sock = sock
        self.max_frame = max_frame

    def send(self, message: Message) -> None:
        self.sock.sendall(encode(message))

    def recv(self) -> Message:
        """Next kernel message; raises WorkerLost on EOF (the kernel went away)."""
        (length,) = HEADER.unpack(self._recv_exactly(HEADER.size))
        if length > self.max_frame:
            raise ProtocolError("kernel frame too large")
        return decode_from_kernel(self._recv_exactly(length))

    def _recv_exactly(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise WorkerLost("kernel closed the channel")
            chunks += chunk
        return bytes(chunks)
