"""The kernel treats every worker frame as hostile input."""

from __future__ import annotations

import msgpack
import pytest

from safekernel.errors import ProtocolError
from safekernel.wire.channel import decode_from_worker, encode


def frame(message: object) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def test_valid_stream_message_passes() -> None:
    assert (
        decode_from_worker(frame({"type": "stream", "name": "stdout", "text": "x"}))["text"] == "x"
    )


@pytest.mark.parametrize(
    "message",
    [
        [1, 2, 3],
        {"type": "pickle", "data": "x"},
        {"type": "stream", "name": "stdout"},
        {"type": "stream", "name": "stdout", "text": b"bytes"},
        {"type": "stream", "name": "/etc/passwd", "text": "x"},
        {"type": "stream", "name": "stdout", "text": "x", "extra": 1},
        {"type": "done", "id": 1, "status": "weird", "usage": {}},
        {"type": "error", "ename": "E", "evalue": "v", "traceback": [1, 2]},
        {
            "type": "display",
            "data": "not a dict",
            "metadata": {},
            "display_id": None,
            "update": False,
        },
    ],
)
def test_malformed_worker_message_is_refused(message: object) -> None:
    with pytest.raises(ProtocolError):
        decode_from_worker(frame(message))


def test_garbage_bytes_are_refused() -> None:
    with pytest.raises(ProtocolError):
        decode_from_worker(b"\xc1\xff\x00garbage")


def test_encode_prefixes_length() -> None:
    data = encode({"type": "x"})
    assert int.from_bytes(data[:4], "big") == len(data) - 4
