"""The kernel treats every worker frame as hostile input."""

from __future__ import annotations

import msgpack
import pytest

from safekernel.errors import ProtocolError
from safekernel.wire.channel import MAX_DEPTH, MAX_ITEMS, decode_from_worker, encode


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
        {"type": "done", "id": 1, "status": "weird", "usage": {}, "stop": ""},
        {"type": "done", "id": 1, "status": "ok", "usage": {}, "stop": "gave up"},
        {"type": "done", "id": 1, "status": "ok", "usage": {}},
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


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "message",
    [
        # schema-valid messages whose size is all in cheap-to-send, costly-to-build items
        {"type": "error", "ename": "E", "evalue": "v", "traceback": [""] * (MAX_ITEMS + 1)},
        {
            "type": "display",
            "data": {"text/plain": "x"},
            "metadata": {"image/png": [[] for _ in range(MAX_ITEMS)]},
            "display_id": None,
            "update": False,
        },
        {
            "type": "done",
            "id": 1,
            "status": "ok",
            "usage": {str(i): i for i in range(MAX_ITEMS)},
            "stop": "",
        },
        # nesting that a recursive consumer (a JSON encoder, a repr) would choke on
        {
            "type": "display",
            "data": {"text/plain": "x"},
            "metadata": _nested(MAX_DEPTH + 1),
            "display_id": None,
            "update": False,
        },
    ],
    ids=["long-array", "many-containers", "big-map", "deep"],
)
def test_decoding_is_bounded_in_items_and_depth(message: object) -> None:
    with pytest.raises(ProtocolError):
        decode_from_worker(frame(message))


def test_a_frame_of_empty_arrays_is_refused_before_it_is_built() -> None:
    # 16 MB of one-byte empty arrays under one array32 header: ~900 MB of lists if decoded
    count = 16 * 1024 * 1024
    body = b"\xdd" + count.to_bytes(4, "big") + b"\x90" * count
    with pytest.raises(ProtocolError, match="more than"):
        decode_from_worker(body)
    # the same, in many arrays small enough each
    body = b"\xdc\x01\x00" + (b"\xdc\x01\x00" + b"\x90" * 256) * 256
    with pytest.raises(ProtocolError, match="more than"):
        decode_from_worker(body)


@pytest.mark.parametrize(
    "body",
    [
        frame({"type": "stream", "name": "stdout", "text": "x"}) + b"\xc0",  # trailing bytes
        frame({"type": "stream", "name": "stdout", "text": "x"})[:-1],  # truncated
        b"\x81\xa4type\xd4\x00\x01",  # an ext type (msgpack timestamps, custom ext): not in schema
        b"\x81\xa4type\xc7\x01\x05\x00",
        b"\x81\xa4type\xdb\xff\xff\xff\xff",  # a str that claims 4 GB
        b"\x81\xa4type\xdf\xff\xff\xff\xff",  # a map that claims 4 G entries
    ],
    ids=["trailing", "truncated", "fixext", "ext8", "huge-str", "huge-map"],
)
def test_malformed_frames_are_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_from_worker(body)


def test_honest_messages_at_their_largest_still_decode() -> None:
    png = b"\x89PNG" + b"\x00" * (8 * 1024 * 1024)
    display = {
        "type": "display",
        "data": {"image/png": png, "text/plain": "<image>"},
        "metadata": {"image/png": {"width": 640, "height": 480}},
        "display_id": "d" * 200,
        "update": True,
    }
    assert decode_from_worker(frame(display))["data"]["image/png"] == png
    names = [f"name{i}" for i in range(1000)]
    reply = {"type": "reply", "id": 7, "content": {"matches": names, "cursor_start": 0}}
    assert decode_from_worker(frame(reply))["content"]["matches"] == names
    text = "é" * 65536
    assert decode_from_worker(frame({"type": "stream", "name": "stdout", "text": text}))
