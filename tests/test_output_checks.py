"""The kernel checks every rich output a worker sends: bad images, huge strings, bad bytes and
deep JSON are refused with one clear line, quickly, and the kernel stays up.

The first tests go through a real kernel (the Lua side sends what a cell asks for); the rest
feed the kernel-side checks directly with what a hostile worker could send.
"""

from __future__ import annotations

import base64
import time

import msgpack
import pytest

from safekernel.errors import ProtocolError
from safekernel.kernel.outputs import OutputCheck, Refused, check_jpeg, check_png, metadata
from safekernel.wire.channel import HEADER, decode_from_worker
from tests.conftest import Kernel
from tests.lua_bytes import JPEG_2X2, lua_literal, png


def refused(kernel: Kernel, code: str) -> str:
    """Run a cell whose output the kernel must refuse; return the stderr line that says so."""
    run = kernel.run(code)
    assert run.status == "ok", run.error
    assert run.of_type("display_data") == []
    assert run.of_type("execute_result") == []
    assert kernel.run("'alive'").result == '"alive"'
    return run.stderr


def test_png_that_is_not_a_png_is_refused(kernel: Kernel) -> None:
    line = refused(kernel, 'display.png("GIF89a definitely not a png")')
    assert line == (
        "safekernel: an image/png output was refused: the bytes are not a PNG (no signature)\n"
    )


def test_png_with_a_bad_checksum_is_refused(kernel: Kernel) -> None:
    broken = bytearray(png())
    broken[20] ^= 0xFF  # inside IHDR
    line = refused(kernel, f"display.png({lua_literal(bytes(broken))})")
    assert "bad checksum in its IHDR chunk" in line


def test_truncated_png_is_refused(kernel: Kernel) -> None:
    assert "cut short" in refused(kernel, f"display.png({lua_literal(png()[:30])})")


def test_jpeg_that_is_not_a_jpeg_is_refused(kernel: Kernel) -> None:
    assert "not a JPEG" in refused(kernel, f"display.jpeg({lua_literal(png())})")


def test_100_mb_html_is_refused_quickly(kernel: Kernel) -> None:
    started = time.monotonic()
    run = kernel.run('display.html(string.rep("x", 2^20):rep(100))')
    elapsed = time.monotonic() - started
    assert run.error is not None
    assert "display.html: the output is 100.0 MB, over the 8.0 MB cap" in run.error["evalue"]
    assert run.of_type("display_data") == []
    assert elapsed < 5
    assert kernel.run("1 + 1").result == "2"


def test_huge_cell_value_from_a_metamethod_is_refused(kernel: Kernel) -> None:
    run = kernel.run(
        "setmetatable({}, {__html = function() return string.rep('x', 2^20):rep(20) end})"
    )
    assert run.error is not None
    assert "the cell's value: the output is 20.0 MB" in run.error["evalue"]


def test_rich_output_per_cell_is_capped(kernel: Kernel) -> None:
    run = kernel.run("local s = string.rep('x', 2^20):rep(7)\nfor i = 1, 10 do display.html(s) end")
    assert len(run.of_type("display_data")) == 4
    assert run.error is not None
    assert "rich output would pass 32.0 MB" in run.error["evalue"]


def test_deeply_nested_json_is_refused_with_a_clear_message(kernel: Kernel) -> None:
    run = kernel.run("local t = {} for i = 1, 1000 do t = {t} end\ndisplay.json(t)")
    assert run.error is not None
    assert "display.json: nesting is deeper than max_depth (64)" in run.error["evalue"]
    ok = kernel.run("local t = {} for i = 1, 63 do t = {t} end\ndisplay.json(t)")
    assert ok.status == "ok"
    assert len(ok.of_type("display_data")) == 1


def test_unknown_display_option_is_a_clear_error(kernel: Kernel) -> None:
    run = kernel.run('display.html("x", {idd = "a"})')
    assert run.error is not None
    assert run.error["evalue"] == "cell:1: display.html: unknown option idd (use id and update)"


# -- what a hostile worker could send, straight into the kernel's checks -------------------
def test_kernel_refuses_mime_types_outside_the_whitelist() -> None:
    with pytest.raises(Refused, match=r"'application/javascript'.*not an allowed type"):
        OutputCheck().bundle({"application/javascript": "alert(1)"})


def test_kernel_decodes_non_utf8_text_with_replacement() -> None:
    assert OutputCheck().bundle({"text/html": b"\xff<b>x</b>"}) == {"text/html": "\ufffd<b>x</b>"}


def test_kernel_base64_encodes_image_bytes_itself() -> None:
    image = png()
    bundle = OutputCheck().bundle({"image/png": image, "image/jpeg": JPEG_2X2})
    assert base64.b64decode(bundle["image/png"]) == image
    assert base64.b64decode(bundle["image/jpeg"]) == JPEG_2X2


def test_kernel_refuses_images_sent_as_text() -> None:
    encoded = base64.b64encode(png()).decode()
    with pytest.raises(Refused, match="must send the image's bytes"):
        OutputCheck().bundle({"image/png": encoded})


def test_kernel_refuses_png_with_absurd_dimensions() -> None:
    with pytest.raises(Refused, match="100000 x 2 pixels"):
        check_png(png(100_000, 2))


def test_kernel_refuses_jpeg_without_end_marker() -> None:
    with pytest.raises(Refused, match="EOI"):
        check_jpeg(JPEG_2X2[:-2])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 200_000, "nested deeper than 64"),
        ("[" * 65 + "]" * 65, "nested deeper than 64"),
        ('{"a": NaN}', "not valid JSON"),
        ("{'a': 1}", "not valid JSON"),
    ],
)
def test_kernel_refuses_bad_json(text: str, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        OutputCheck().bundle({"application/json": text})


def test_kernel_caps_each_output_and_each_cell() -> None:
    check = OutputCheck(max_output=100, max_cell=250)
    with pytest.raises(Refused, match="one output may be at most"):
        check.bundle({"text/html": "x" * 101})
    check.bundle({"text/html": "x" * 100})
    check.bundle({"text/html": "x" * 100})
    with pytest.raises(Refused, match="this cell's rich output passed"):
        check.bundle({"text/html": "x" * 100})


def test_kernel_keeps_only_image_sizes_in_metadata() -> None:
    bundle = {"image/png": "...", "text/html": "..."}
    raw = {
        "image/png": {"width": 10, "height": -1, "onload": "x"},
        "text/html": {"isolated": True},
        "image/jpeg": {"width": 5},
    }
    assert metadata(raw, bundle) == {"image/png": {"width": 10}}


def frame_body(message: dict[str, object]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def test_channel_accepts_bytes_and_text_in_display_data() -> None:
    body = frame_body(
        {
            "type": "display",
            "data": {"image/png": b"\x89PNG", "text/plain": "x"},
            "metadata": {},
            "display_id": None,
            "update": False,
        }
    )
    assert decode_from_worker(body)["data"]["image/png"] == b"\x89PNG"
    assert HEADER.size == 4


def test_channel_refuses_display_data_that_is_not_text_or_bytes() -> None:
    body = frame_body({"type": "result", "data": {"text/plain": {"nested": [1]}}})
    with pytest.raises(ProtocolError, match=r"result\.data must map MIME types"):
        decode_from_worker(body)
