"""The kernel <-> worker channel: framing and decoding, shared by both sides (the schemas are
in messages.py).

A frame is a 4-byte big-endian length followed by one msgpack map (data only, never pickle).
The kernel treats every worker message as hostile: `decode_from_worker` checks the size cap,
the frame's shape before msgpack builds anything (item count, nesting depth, no ext types:
`check_shape`, one linear pass), the message type and the type of every field, and raises
ProtocolError on anything else, which ends that worker. The worker and the zygote decode what
the kernel sends through the same schema tables.

The kernel's asyncio end lives in asyncchannel.py: the zygote and every worker import this
module, and asyncio alone would add ~30 ms to the zygote's start and ~5 MB to its memory.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

import msgpack

from safekernel.errors import ProtocolError, WorkerLost
from safekernel.limits import DEFAULT_MAX_FRAME, MIN_MAX_FRAME
from safekernel.wire.messages import (
    KERNEL_TO_WORKER,
    KERNEL_TO_ZYGOTE,
    WORKER_TO_KERNEL,
    ZYGOTE_TO_KERNEL,
    Message,
    validate,
)

__all__ = [
    "DEFAULT_MAX_FRAME",
    "HEADER",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MIN_MAX_FRAME",
    "BlockingChannel",
    "Message",
    "check_shape",
    "decode_control",
    "decode_from_kernel",
    "decode_from_worker",
    "decode_spawned",
    "encode",
    "recv_exactly",
    "recv_frame",
]

HEADER = struct.Struct(">I")
#: Most msgpack items (every value, map key, array and map counts one) a frame may hold. An
#: honest message has a few dozen (a completion reply with 1000 names about a thousand); a frame
#: of 16 MB of one-byte empty arrays would cost the kernel ~900 MB and seconds to build.
MAX_ITEMS = 64 * 1024
#: Deepest nesting of arrays and maps in a frame (honest messages nest four deep at most)
MAX_DEPTH = 16


def encode(message: Message) -> bytes:
    body: bytes = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def _unpack(body: bytes) -> Any:
    check_shape(body)
    try:
        return msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            max_str_len=len(body),
            max_bin_len=len(body),
            max_array_len=MAX_ITEMS,
            max_map_len=MAX_ITEMS,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"undecodable frame: {type(exc).__name__}") from None


# msgpack type bytes (see the msgpack spec) -> how many bytes follow: fixed-size scalars, and
# the width of the length prefix of str / bin, arrays and maps. Ext types are not in the schema.
_FIXED = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_SIZED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
_ARRAYS = {0xDC: 2, 0xDD: 4}
_MAPS = {0xDE: 2, 0xDF: 4}
_SINGLES = frozenset({0xC0, 0xC2, 0xC3})  # nil, false, true


def check_shape(body: bytes) -> None:
    """Refuse a frame with more than MAX_ITEMS items, nesting deeper than MAX_DEPTH, ext types,
    truncation or trailing bytes, before msgpack builds a single object.

    One pass over the item headers: a string or binary body is stepped over, never read, so
    the cost is at most MAX_ITEMS steps whatever the frame holds.
    """
    end, pos, items = len(body), 0, 0
    pending = [1]  # items still due at each open level; the frame itself is one item
    while pending:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        items += 1
        if items > MAX_ITEMS:
            raise ProtocolError(f"frame holds more than {MAX_ITEMS} items")
        if pos >= end:
            raise ProtocolError("frame is truncated")
        byte = body[pos]
        pos += 1
        count = -1
        if byte <= 0x7F or byte >= 0xE0 or byte in _SINGLES:
            continue
        if 0xA0 <= byte <= 0xBF:
            pos += byte & 0x1F
        elif 0x90 <= byte <= 0x9F:
            count = byte & 0x0F
        elif 0x80 <= byte <= 0x8F:
            count = 2 * (byte & 0x0F)
        elif byte in _FIXED:
            pos += _FIXED[byte]
        elif byte in _SIZED:
            width = _SIZED[byte]
            pos += width + int.from_bytes(body[pos : pos + width], "big")
        elif byte in _ARRAYS:
            width = _ARRAYS[byte]
            count = int.from_bytes(body[pos : pos + width], "big")
            pos += width
        elif byte in _MAPS:
            width = _MAPS[byte]
            count = 2 * int.from_bytes(body[pos : pos + width], "big")
            pos += width
        else:
            raise ProtocolError(f"frame holds an unsupported msgpack type 0x{byte:02x}")
        if count >= 0:
            if count > MAX_ITEMS:
                raise ProtocolError(f"frame holds a container of more than {MAX_ITEMS} items")
            if len(pending) > MAX_DEPTH:
                raise ProtocolError(f"frame nests deeper than {MAX_DEPTH} levels")
            pending.append(count)
    if pos != end:
        raise ProtocolError("frame is truncated" if pos > end else "frame has trailing bytes")


def decode_from_worker(body: bytes) -> Message:
    """Decode and validate one worker frame; anything off raises ProtocolError."""
    return validate(_unpack(body), WORKER_TO_KERNEL)


def decode_from_kernel(body: bytes) -> Message:
    """A kernel -> worker frame, checked against the same schema table the kernel sends by."""
    return validate(_unpack(body), KERNEL_TO_WORKER)


def decode_control(body: bytes) -> Message:
    """A kernel -> zygote control frame (spawn, shutdown)."""
    return validate(_unpack(body), KERNEL_TO_ZYGOTE)


def decode_spawned(body: bytes) -> Message:
    """The zygote's answer to a spawn request."""
    return validate(_unpack(body), ZYGOTE_TO_KERNEL)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes from a blocking socket; EOFError if the peer closes first."""
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise EOFError("the peer closed the channel")
        chunks += chunk
    return bytes(chunks)


def recv_frame(sock: socket.socket, max_frame: int) -> bytes:
    """One frame's body from a blocking socket (EOFError at EOF, ProtocolError if too large)."""
    (length,) = HEADER.unpack(recv_exactly(sock, HEADER.size))
    if length > max_frame:
        raise ProtocolError("frame too large")
    return recv_exactly(sock, length)


class BlockingChannel:
    """The worker's end: blocking reads and writes on an already-connected socket.

    Writes come from two threads (the cell thread and the output flusher), so the caller
    serialises them; see worker/loop.py's Outbox.
    """

    def __init__(self, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.sock = sock
        self.max_frame = max_frame

    def send(self, message: Message) -> None:
        self.sock.sendall(encode(message))

    def recv(self) -> Message:
        """Next kernel message; raises WorkerLost on EOF (the kernel went away)."""
        try:
            body = recv_frame(self.sock, self.max_frame)
        except EOFError:
            raise WorkerLost("kernel closed the channel") from None
        return decode_from_kernel(body)
