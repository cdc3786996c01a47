"""The kernel's end of a worker channel, on the kernel's asyncio loop (framing and validation
are channel.py's). Kept apart from channel.py so that the zygote and the workers, which import
channel.py, never import asyncio (measured: ~30 ms of the zygote's start, ~5 MB of its memory).
"""

from __future__ import annotations

import asyncio
import socket

from safekernel.errors import ProtocolError, WorkerLost
from safekernel.wire.channel import (
    DEFAULT_MAX_FRAME,
    HEADER,
    Message,
    decode_from_worker,
    encode,
)

#: how far the kernel reads ahead of the message it is handling (asyncio stops reading at twice
#: this). It is also how far a flooding worker can be ahead of the kernel when the kernel stops
#: its cell: 1 MB held ~80,000 tiny messages, more than the kernel drained in the interrupt's
#: grace, so a soft stop became a kill. A larger frame is still read whole (readexactly).
READ_AHEAD = 64 * 1024


class AsyncChannel:
    """The kernel's end of one worker channel, on the kernel's asyncio loop."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.max_frame = max_frame

    @classmethod
    async def open(cls, sock: socket.socket, max_frame: int = DEFAULT_MAX_FRAME) -> AsyncChannel:
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=READ_AHEAD)
        return cls(reader, writer, max_frame)

    def send(self, message: Message) -> None:
        """Queue a frame; the worker side reads promptly, so no backpressure wait is needed."""
        if self._writer.is_closing():
            raise WorkerLost("the worker's channel is closed")
        self._writer.write(encode(message))

    async def recv(self) -> Message:
        try:
            header = await self._reader.readexactly(HEADER.size)
            (length,) = HEADER.unpack(header)
            if length > self.max_frame:
                raise ProtocolError(f"worker frame of {length} bytes is over the cap")
            body = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerLost("the worker closed its channel") from exc
        return decode_from_worker(body)

    def close(self) -> None:
        self._writer.close()
