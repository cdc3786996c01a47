"""The guest's control frames, read as hostile input.

The driver inside the guest writes each control message as one fd 2 write: MAGIC, a 4-byte
length, then JSON. A cell shares the driver's interpreter, so it can write such frames too (or
anything else): every frame is size-capped, parsed with a bounded JSON decoder and checked
against the schema below, and a write that is not exactly one well-formed frame is shown as the
cell's stderr text, never acted on. Invalid UTF-8 is replaced, never an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import marshal
import struct
from typing import Any

from safekernel.limits import DISPLAY_BYTES

MAGIC = b"\x00SKC"
_HEADER = struct.Struct(">I")
#: the largest control frame: one display at its cap, base64 and JSON overhead included
MAX_FRAME = DISPLAY_BYTES * 2
#: text fields are cut to these lengths (the kernel caps them again)
MAX_NAME = 200
MAX_TEXT = 1024 * 1024
MAX_TRACEBACK_LINES = 200
#: MIME types a display's metadata may name, and fields each (a bundle has a few of each)
MAX_METADATA = 32
BINARY_MIME = frozenset({"image/png", "image/jpeg"})
_DROPPED = "safekernel: a malformed control frame from the guest was dropped\n"


class ControlError(ValueError):
    """A frame that does not follow the schema."""


def frame(message: dict[str, Any]) -> bytes:
    """A host -> guest request: a 4-byte length, then marshal data (str, int, bool, None and
    dicts of them: a format both interpreters read alike, and the guest needs no import for
    it). Only the host writes these; the host never reads marshal data."""
    body = marshal.dumps(message)
    return _HEADER.pack(len(body)) + body


class ControlParser:
    """Turns the guest's fd 2 writes into messages (dicts) and stderr text (str)."""

    def feed(self, data: bytes) -> list[str | dict[str, Any]]:
        if not data.startswith(MAGIC):
            return [data.decode("utf-8", errors="replace")]
        if len(data) < len(MAGIC) + _HEADER.size:
            return [_DROPPED]
        (length,) = _HEADER.unpack_from(data, len(MAGIC))
        body = data[len(MAGIC) + _HEADER.size :]
        if length != len(body) or length > MAX_FRAME:
            return [_DROPPED]
        try:
            return [validate(json.loads(body.decode("utf-8", errors="replace")))]
        except (ValueError, RecursionError):
            return [_DROPPED]


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ControlError("a text field is not a string")
    return value[:limit]


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ControlError("a flag is not a boolean")
    return value


def _bundle(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError("a MIME bundle is not a mapping")
    if len(value) > MAX_METADATA:
        # the kernel allows eight types; tens of thousands broke the worker's frame to the
        # kernel (too many items: the worker was ended and the session's variables lost)
        raise ControlError("a MIME bundle has too many types")
    bundle: dict[str, Any] = {}
    for mime, content in value.items():
        if not isinstance(content, str) or len(mime) > MAX_NAME:
            raise ControlError("a MIME bundle entry is not text")
        if mime in BINARY_MIME:
            try:
                bundle[mime] = base64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                raise ControlError(f"{mime} is not base64") from None
        else:
            bundle[mime] = content
    return bundle


def _metadata(value: Any) -> dict[str, Any]:
    """Per-MIME metadata as the kernel can use it ({mime: {field: number or short text}}: it
    keeps an image's width and height, outputs.py); the rest is dropped here. Passed on whole,
    a cell's metadata nested 17 levels deep broke the worker's frame to the kernel (which ends
    a worker whose frames nest too deep: the session's variables were lost)."""
    if not isinstance(value, dict):
        raise ControlError("metadata is not a mapping")
    clean: dict[str, Any] = {}
    for mime, fields in list(value.items())[:MAX_METADATA]:
        if not isinstance(mime, str) or len(mime) > MAX_NAME or not isinstance(fields, dict):
            continue
        kept = {
            key: item
            for key, item in list(fields.items())[:MAX_METADATA]
            if isinstance(key, str)
            and len(key) <= MAX_NAME
            and (
                isinstance(item, int | float | bool)
                or (isinstance(item, str) and len(item) <= MAX_NAME)
            )
        }
        if kept:
            clean[mime] = kept
    return clean


def validate(message: Any) -> dict[str, Any]:
    """The message with only its schema's fields, each of the right type."""
    if not isinstance(message, dict):
        raise ControlError("a frame is not a mapping")
    kind = message.get("t")
    if kind in ("ready", "idle"):
        return {"t": kind}
    if kind == "stream":
        return {"t": kind, "text": _text(message.get("text"))}
    if kind == "input":
        return {
            "t": kind,
            "prompt": _text(message.get("prompt"), 10_000),
            "password": _flag(message.get("password")),
        }
    if kind == "display":
        ident = message.get("id")
        return {
            "t": kind,
            "data": _bundle(message.get("data")),
            "metadata": _metadata(message.get("metadata")),
            "id": None if ident is None else _text(ident, MAX_NAME),
            "update": _flag(message.get("update")),
        }
    if kind == "clear":
        return {"t": kind, "wait": _flag(message.get("wait"))}
    if kind == "result":
        return {
            "t": kind,
            "data": _bundle(message.get("data")),
            "metadata": _metadata(message.get("metadata")),
        }
    if kind == "error":
        traceback = message.get("traceback")
        if not isinstance(traceback, list):
            raise ControlError("a traceback is not a list")
        return {
            "t": kind,
            "ename": _text(message.get("ename"), MAX_NAME),
            "evalue": _text(message.get("evalue")),
            "traceback": [_text(line, 10_000) for line in traceback[:MAX_TRACEBACK_LINES]],
        }
    if kind == "reply":
        content = message.get("content")
        if not isinstance(content, dict):
            raise ControlError("a reply is not a mapping")
        return {"t": kind, "content": content}
    raise ControlError(f"unknown control message {str(kind)[:50]!r}")
