"""Kernel-side checks of the rich output a worker sends (display data and cell values).

The worker is untrusted, so nothing it sends reaches the frontend unchecked: only whitelisted
MIME types; text decoded as UTF-8 (bad bytes become U+FFFD); application/json parsed here, as
data, and refused when it is too deep; PNG and JPEG bytes checked for their structure and
base64-encoded here (the worker sends raw bytes, never text the frontend would trust as
base64); every output and every cell under a size cap. A refused output is replaced by one line
on stderr saying why, so the user is never left wondering where it went.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

from safekernel.errors import SafeKernelError
from safekernel.limits import CELL_DISPLAY_BYTES, DISPLAY_BYTES, JSON_DEPTH

TEXT_MIME = frozenset({"text/plain", "text/html", "text/markdown", "text/latex", "image/svg+xml"})
IMAGE_MIME = frozenset({"image/png", "image/jpeg"})
JSON_MIME = "application/json"
ALLOWED_MIME = TEXT_MIME | IMAGE_MIME | {JSON_MIME}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a PNG's dimensions past this are refused (browsers would allocate width x height x 4 bytes)
MAX_IMAGE_SIDE = 20_000


class Refused(SafeKernelError):
    """An output the kernel will not pass on; str() is the one line the user sees."""


class OutputCheck:
    """Checks one cell's rich outputs and keeps its running total against the per-cell cap."""

    def __init__(self, max_output: int = DISPLAY_BYTES, max_cell: int = CELL_DISPLAY_BYTES) -> None:
        self.max_output = max_output
        self.max_cell = max_cell
        self.used = 0

    def bundle(self, data: dict[str, Any]) -> dict[str, Any]:
        """A frontend-ready MIME bundle from a worker's data, or Refused with the reason."""
        size = sum(len(v) if isinstance(v, str | bytes) else 0 for v in data.values())
        if size > self.max_output:
            raise Refused(
                f"an output of {_mb(size)} was refused: one output may be at most "
                f"{_mb(self.max_output)}"
            )
        if self.used + size > self.max_cell:
            raise Refused(
                f"an output was refused: this cell's rich output passed {_mb(self.max_cell)}; "
                "split the work over several cells"
            )
        bundle: dict[str, Any] = {}
        for mime, value in data.items():
            if mime not in ALLOWED_MIME:
                raise Refused(f"an output of type {mime!r} was refused (not an allowed type)")
            if not isinstance(value, str | bytes):
                raise Refused(f"a {mime} output was refused: it is not text or bytes")
            bundle[mime] = _checked(mime, value)
        self.used += size
        return bundle


def _checked(mime: str, value: str | bytes) -> Any:
    if mime in IMAGE_MIME:
        if not isinstance(value, bytes):
            raise Refused(f"a {mime} output was refused: the worker must send the image's bytes")
        if mime == "image/png":
            check_png(value)
        else:
            check_jpeg(value)
        return base64.b64encode(value).decode("ascii")
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    if mime == JSON_MIME:
        return parse_json(text)
    return text


def metadata(raw: dict[str, Any], bundle: dict[str, Any]) -> dict[str, Any]:
    """Only what frontends use from us: an image's width and height, as positive integers."""
    clean: dict[str, Any] = {}
    for mime, fields in raw.items():
        if mime not in bundle or mime not in IMAGE_MIME or not isinstance(fields, dict):
            continue
        size = {
            key: value
            for key, value in fields.items()
            if key in ("width", "height")
            and isinstance(value, int)
            and not isinstance(value, bool)
            and 0 < value <= MAX_IMAGE_SIDE
        }
        if size:
            clean[mime] = size
    return clean


def parse_json(text: str) -> Any:
    """Parse JSON text as data; refuse NaN/Infinity, bad syntax and nesting past JSON_DEPTH."""
    try:
        # the C parser stops at the interpreter's recursion limit, so a flood of "[" is cheap
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        value, deep = None, True
    except ValueError as exc:
        raise Refused(
            f"an application/json output was refused: it is not valid JSON ({exc})"
        ) from None
    else:
        deep = _deeper_than(value, JSON_DEPTH)
    if deep:
        raise Refused(
            f"an application/json output was refused: it is nested deeper than {JSON_DEPTH} "
            "levels; show a flatter summary"
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests lists/objects more than `limit` deep (iterative walk)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def check_png(data: bytes) -> None:
    """The PNG signature, an IHDR first, every chunk's length and CRC, and an IEND last."""
    if not data.startswith(PNG_SIGNATURE):
        raise Refused("an image/png output was refused: the bytes are not a PNG (no signature)")
    pos, first, ended = len(PNG_SIGNATURE), True, False
    while pos < len(data) and not ended:
        if pos + 12 > len(data):
            raise Refused("an image/png output was refused: the PNG is cut short")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 8 + length
        if end + 4 > len(data):
            raise Refused("an image/png output was refused: the PNG is cut short")
        (crc,) = struct.unpack_from(">I", data, end)
        if zlib.crc32(data[pos + 4 : end]) != crc:
            raise Refused(f"an image/png output was refused: bad checksum in its {_name(kind)}")
        if first:
            _check_ihdr(kind, data[pos + 8 : end])
            first = False
        ended = kind == b"IEND"
        pos = end + 4
    if not ended:
        raise Refused("an image/png output was refused: the PNG has no IEND chunk")


def _check_ihdr(kind: bytes, body: bytes) -> None:
    if kind != b"IHDR" or len(body) != 13:
        raise Refused("an image/png output was refused: the PNG does not start with IHDR")
    width, height = struct.unpack_from(">II", body)
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        raise Refused(
            f"an image/png output was refused: {width} x {height} pixels is outside 1.."
            f"{MAX_IMAGE_SIDE} per side"
        )


def check_jpeg(data: bytes) -> None:
    """SOI, well-formed segments up to the scan, a frame header before it, and EOI at the end."""
    bad = "an image/jpeg output was refused: "
    if not data.startswith(b"\xff\xd8\xff"):
        raise Refused(bad + "the bytes are not a JPEG (no SOI marker)")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise Refused(bad + "the JPEG does not end with an EOI marker")
    pos, frame = 2, False
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise Refused(bad + "its segments are malformed")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > len(data):
            raise Refused(bad + "its segments are malformed")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            frame = _check_sof(data[pos + 4 : pos + 2 + length], bad)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos += 2 + length
    if not frame:
        raise Refused(bad + "it has no frame header")


def _check_sof(body: bytes, bad: str) -> bool:
    if len(body) < 6:
        raise Refused(bad + "its frame header is cut short")
    height, width = struct.unpack_from(">HH", body, 1)
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        raise Refused(bad + f"{width} x {height} pixels is outside 1..{MAX_IMAGE_SIDE} per side")
    return True


def _name(kind: bytes) -> str:
    return kind.decode("ascii", errors="replace") + " chunk"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
