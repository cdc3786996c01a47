"""The kernel checks every rich output a worker sends: bad images, huge strings, bad bytes and
deep JSON are refused with one clear line, quickly, and the kernel stays up.

The first tests go through a real kernel (the Lua side sends what a cell asks for); the rest
feed the kernel-side checks directly with what a hostile worker could send.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import time
import tracemalloc
import zlib
from typing import Any

import msgpack
import pytest

from safekernel.errors import ProtocolError
from safekernel.kernel.outputs import (
    OutputCheck,
    Refused,
    check_jpeg,
    check_png,
    check_svg,
    inert_latex,
    inert_markdown,
    metadata,
    sanitise_html,
)
from safekernel.limits import DISPLAY_BYTES
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


def test_an_svg_with_a_script_is_refused(kernel: Kernel) -> None:
    # a frontend that puts an SVG inline in its page (nbclassic, exported HTML) would run it
    line = refused(kernel, "display.svg([[<svg onload='alert(1)'><script>x()</script></svg>]])")
    assert "image/svg+xml output was refused: it has an event handler" in line
    # the kernel's own plots pass
    assert kernel.run("plot.line({1, 2, 3})").of_type("execute_result")


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


# -- the checks are linear and bounded: measured in memory and in Python steps, not seconds --


def _python_lines(check: Any, *args: Any, cap: int = 200_000) -> int:
    """How many Python lines `check(*args)` runs (stops counting at `cap`, by raising)."""
    count = 0

    class Enough(Exception):
        pass

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
            if count >= cap:
                raise Enough
        return tracer

    sys.settrace(tracer)
    try:
        check(*args)
    except (Enough, Refused):
        pass
    finally:
        sys.settrace(None)
    return count


def test_json_of_millions_of_tiny_values_is_refused_in_bounded_memory() -> None:
    text = "[" + "[]," * 2_600_000 + "[]]"  # 7.8 MB: 2.6 million lists if parsed
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="more than 100,000 values"):
            OutputCheck().bundle({"application/json": text})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(text)


def test_json_with_commas_inside_strings_is_not_counted_as_values() -> None:
    text = json.dumps({"csv": "a," * 500_000, "n": [1, 2, 3]})
    assert OutputCheck().bundle({"application/json": text})["application/json"]["n"] == [1, 2, 3]


def test_an_unterminated_json_string_full_of_escaped_quotes_is_linear() -> None:
    # each quote would start a new scan to the end of the text in a naive string matcher
    text = "[" + ',"' + '\\"' * 400_000
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="not valid JSON"):
            OutputCheck().bundle({"application/json": text})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * len(text)


def test_jpeg_fill_bytes_are_skipped_in_one_step() -> None:
    jpeg = b"\xff\xd8" + b"\xff" * (4 * 1024 * 1024) + b"\xc0\x00\x11\xff\xd9"
    assert _python_lines(check_jpeg, jpeg) < 100


def test_jpeg_with_millions_of_tiny_segments_is_refused_early() -> None:
    jpeg = b"\xff\xd8" + b"\xff\xfe\x00\x02" * 1_000_000 + b"\xff\xd9"
    with pytest.raises(Refused, match="more than 1,000 segments"):
        check_jpeg(jpeg)
    assert _python_lines(check_jpeg, jpeg) < 50_000


def test_png_with_hundreds_of_thousands_of_chunks_is_refused_early() -> None:
    empty = b"\x00\x00\x00\x00tEXt" + struct.pack(">I", zlib.crc32(b"tEXt"))
    data = png()
    flood = data[:33] + empty * 300_000 + data[33:]
    with pytest.raises(Refused, match="more than 10,000 chunks"):
        check_png(flood)
    assert _python_lines(check_png, flood) < 200_000


#: what matplotlib writes (its metadata, DOCTYPE, style, clip paths, <use> and an embedded PNG)
MATPLOTLIB_SVG = (
    '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD '
    'SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<svg xmlns:xlink="http://'
    'www.w3.org/1999/xlink" width="10pt" height="10pt" viewBox="0 0 10 10" xmlns="http://www.w3'
    '.org/2000/svg" version="1.1"><metadata><rdf:RDF xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:cc="http://creativecommons.org/ns#" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-synt'
    'ax-ns#"><cc:Work><dc:type rdf:resource="http://purl.org/dc/dcmitype/StillImage"/><dc:date>'
    '2026</dc:date></cc:Work></rdf:RDF></metadata><defs><style type="text/css">*{stroke-line'
    'join: round; stroke-linecap: butt}</style></defs><g id="figure_1"><g clip-path="url(#p1)">'
    '<image xlink:href="data:image/png;base64,iVBORw0KGgo=" width="2" height="2"/></g><path id'
    '="m1" d="M 0 0 L 0 3.5" style="stroke: #000"/><use xlink:href="#m1" x="1" y="2"/></g><defs>'
    '<clipPath id="p1"><rect x="0" y="0" width="10" height="10"/></clipPath></defs></svg>'
)


@pytest.mark.parametrize(
    "svg",
    [
        "<svg/>",
        "<svg xmlns='http://www.w3.org/2000/svg'><text>a &lt; b</text></svg>",
        MATPLOTLIB_SVG,
    ],
)
def test_kernel_passes_svg_images(svg: str) -> None:
    check_svg(svg)
    assert OutputCheck().bundle({"image/svg+xml": svg}) == {"image/svg+xml": svg}


@pytest.mark.parametrize(
    ("svg", "reason"),
    [
        ("<svg><script>alert(1)</script></svg>", "<script> element"),
        ("<svg><rect ONCLICK='x()'/></svg>", "event handler"),
        ("<svg><a href='&#106;avascript:x()'><text>x</text></a></svg>", "links outside"),
        ("<svg><image href='http://example.com/x.png'/></svg>", "links outside"),
        ("<svg><feImage href='//example.com/x'/></svg>", "links outside"),
        ("<svg><foreignObject><div/></foreignObject></svg>", "<foreignObject> element"),
        ("<svg><set attributeName='href' to='javascript:x()'/></svg>", "<set> element"),
        # an HTML element inside <svg> is HTML again in a page (and <img> fetches its src)
        ("<svg><img src='x'/></svg>", "<img> element"),
        ("<svg><metadata><img xmlns='urn:x' src='x'/></metadata></svg>", "metadata has"),
        ("<svg><rect style='fill: url( \"https://example.com/a\")'/></svg>", "outside the image"),
        ("<svg><style>a{background:ur<g/>l(//example.com)}</style></svg>", "outside the image"),
        ("<svg><style>@import 'x.css';</style></svg>", "escapes or imports"),
        ("<svg><rect style='fill: u\\72l(//example.com)'/></svg>", "escapes or imports"),
        # markup an XML parser and a page's HTML parser read differently
        ("<svg><title><![CDATA[ x> <img src=x onerror=y()> ]]></title></svg>", "CDATA"),
        ("<svg><?x a><img src=x onerror=y()>?></svg>", "processing instructions"),
        ("<!DOCTYPE svg [<!-- > <img src=x onerror=y()> -->]><svg/>", "internal DTD"),
        ("<!DOCTYPE svg [<!ENTITY a 'b'>]><svg>&a;</svg>", "internal DTD"),
        ("<svg/><img src=x onerror=y()>", "not well-formed"),
        ("<svg>" + "<g/>" * 100_001 + "</svg>", "more than 100,000"),
    ],
)
def test_kernel_refuses_svg_that_could_run_or_fetch_anything(svg: str, reason: str) -> None:
    with pytest.raises(Refused, match="image/svg\\+xml output was refused") as refusal:
        OutputCheck().bundle({"image/svg+xml": svg})
    assert reason in str(refusal.value)


# -- HTML, Markdown and LaTeX: nothing active reaches the frontend (JupyterLab trusts a live
# session's outputs and runs the scripts in them) --------------------------------------------


@pytest.mark.parametrize(
    ("html", "kept"),
    [
        ("<ScRiPt>alert(1)</sCrIpT><b>x</b>", "<b>x</b>"),
        ("<script src=//evil/x.js></script>t", "t"),
        ("<img src=x onerror=alert(1)>", '<img src="x">'),
        ("<IMG SRC=x OnErRoR=alert(1)>", '<img src="x">'),
        ('<a href="jav&#x61;script:alert(1)">a</a>', '<a rel="noopener noreferrer">a</a>'),
        ('<a href=" JAVASCRIPT:alert(1)">a</a>', '<a rel="noopener noreferrer">a</a>'),
        ('<a href="vbscript:x">a</a>', '<a rel="noopener noreferrer">a</a>'),
        ('<a href="data:text/html,<script>x</script>">a</a>', '<a rel="noopener noreferrer">a</a>'),
        (
            '<a href="https://x.org/">a</a>',
            '<a href="https://x.org/" rel="noopener noreferrer">a</a>',
        ),
        ("<svg><script>alert(1)</script></svg>t", "t"),
        ("<svg onload=alert(1)><circle r=1 /></svg>t", "t"),
        ("<math><mi xlink:href='javascript:alert(1)'>x</mi></math>t", "t"),
        ('<iframe srcdoc="<script>alert(1)</script>"></iframe>t', "t"),
        ("<object data=x.swf></object><embed src=x>t", "t"),
        ("<form action=/api/contents><input name=a></form>t", "t"),
        (
            "<base href=//evil/><meta http-equiv=refresh content=0><link rel=stylesheet href=x>t",
            "t",
        ),
        ("<style>@import url(//evil/x.css)</style>t", "t"),
        ("<!--<script>-->t<!-- x -->", "t"),
        ("<b <script>alert(1)</script>", "<b>alert(1)</b>"),
        ("<<script>script>alert(1)<</script>/script>", "&lt;/script&gt;"),
        ('<noscript><p title="</noscript><img src=x onerror=alert(1)>">', '<img src="x">"&gt;'),
        ("<template><script>x</script></template>t", "t"),
        ('<div style="color: red; background: url(//evil/)">x</div>', "<div>x</div>"),
        ('<div style="position: fixed; color: red">x</div>', '<div style="color:red">x</div>'),
        ('<img src="data:image/png;base64,iVBO">', '<img src="data:image/png;base64,iVBO">'),
        ('<img src="data:image/svg+xml,<svg onload=x>">', "<img>"),
        (
            '<a href="#part">x</a><h2 id="part">P</h2>',
            '<a href="#user-content-part" rel='
            '"noopener noreferrer">x</a><h2 id="user-content-part">P</h2>',
        ),
        (
            "<details open><summary>s</summary><pre><code>c</code></pre></details>",
            '<details open=""><summary>s</summary><pre><code>c</code></pre></details>',
        ),
    ],
)
def test_html_keeps_only_inert_markup(html: str, kept: str) -> None:
    assert sanitise_html(html) == kept


def test_html_tables_keep_their_structure() -> None:
    # what pandas' DataFrame._repr_html_ writes (less its <style scoped> sheet)
    pandas = (
        "<div>\n<style scoped>\n    .dataframe tbody tr th {\n        vertical-align: top;\n"
        '    }\n</style>\n<table border="1" class="dataframe">\n  <thead>\n'
        '    <tr style="text-align: right;">\n      <th></th>\n      <th>a</th>\n    </tr>\n'
        "  </thead>\n  <tbody>\n    <tr>\n      <th>0</th>\n      <td>1</td>\n    </tr>\n"
        "  </tbody>\n</table>\n</div>"
    )
    clean = sanitise_html(pandas)
    assert "<style" not in clean
    assert '<table border="1" class="dataframe">' in clean
    assert '<tr style="text-align:right">' in clean
    assert "<th>a</th>" in clean
    assert "<td>1</td>" in clean
    cells = '<table><tr><td colspan="2" rowspan="3" align="left">x</td></tr></table>'
    assert 'colspan="2" rowspan="3" align="left"' in sanitise_html(cells)


def test_removed_active_html_is_told_once_per_cell() -> None:
    check = OutputCheck()
    assert check.bundle({"text/html": "<b>plain</b>"}) == {"text/html": "<b>plain</b>"}
    assert check.notes() == []
    assert check.bundle({"text/html": "<b onclick=x()>a</b>"}) == {"text/html": "<b>a</b>"}
    check.bundle({"text/html": "<script>x()</script>"})
    notes = check.notes()
    assert len(notes) == 1
    assert "removed a script or other active content from this cell's HTML output" in notes[0][1]
    check.bundle({"text/html": "<script>x()</script>"})
    assert check.notes() == []
    # a pandas table's dropped style sheet is no news to tell
    assert OutputCheck().bundle({"text/html": "<style>td{}</style><table></table>"})
    assert OutputCheck().notes() == []


@pytest.mark.parametrize(
    ("markdown", "inert"),
    [
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)>"),
        ("<ScRiPt>alert(1)</script>", "&lt;ScRiPt>alert(1)&lt;/script>"),
        ("<!-- x --><?php ?><!DOCTYPE x>", "&lt;!-- x -->&lt;?php ?>&lt;!DOCTYPE x>"),
        ("&#60;img src=x onerror=alert(1)&#62;", "&amp;#60;img src=x onerror=alert(1)&amp;#62;"),
        ("[x](javascript:alert(1))", "[x](javascript-blocked:alert(1))"),
        ("[x](JavaScript\\:alert(1))", "[x](JavaScript-blocked\\:alert(1))"),
        ("[x]: vbscript:x", "[x]: vbscript-blocked:x"),
        ("[x](jav&#x61;script:alert(1))", "[x](jav&amp;#x61;script:alert(1))"),
        ("<https://x.org>", "&lt;https://x.org>"),
    ],
)
def test_markdown_raw_html_and_script_links_are_inert(markdown: str, inert: str) -> None:
    assert inert_markdown(markdown)[0] == inert


def test_markdown_syntax_is_kept() -> None:
    text = "# T\n\n> quoted\n\na < b, b > a, `x<1`, [ok](https://x.org) **bold**\n\nJavaScript: ok"
    assert inert_markdown(text) == (text, False)


@pytest.mark.parametrize(
    ("latex", "inert"),
    [
        ("\\href{javascript:alert(1)}{x}", "\\text{javascript:alert(1)}{x}"),
        ("\\href {https://x.org}{x}", "\\href {https://x.org}{x}"),
        ("\\let\\h\\href \\h{javascript:x}{y}", "\\let\\h\\text \\h{javascript:x}{y}"),
        ("\\url{javascript:x}", "\\text{javascript:x}"),
        ("\\require{https://evil/x.js}", "\\text{https://evil/x.js}"),
        ("\\style{background:url(//evil/)}{x}", "\\text{background:url(//evil/)}{x}"),
        ("$\\frac{1}{2} \\hrefx$", "$\\frac{1}{2} \\hrefx$"),
    ],
)
def test_latex_links_and_loads_are_inert(latex: str, inert: str) -> None:
    assert inert_latex(latex)[0] == inert


@pytest.mark.parametrize(
    "mime",
    ["application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json"],
)
def test_active_mime_types_are_refused(mime: str) -> None:
    with pytest.raises(Refused, match="not an allowed type"):
        OutputCheck().bundle({mime: "alert(1)"})


def test_html_at_the_size_cap_is_sanitised(capsys: pytest.CaptureFixture[str]) -> None:
    row = "<tr><td class='c' style='color:red'>1</td><td onclick=x()>2</td><script>x</script></tr>"
    html = "<table>" + row * (DISPLAY_BYTES // len(row) - 1) + "</table>"
    start = time.perf_counter()
    clean = sanitise_html(html)
    spent = time.perf_counter() - start
    assert "script" not in clean
    assert "onclick" not in clean
    with capsys.disabled():
        print(f"\nsanitising {len(html) / 1e6:.1f} MB of HTML took {spent:.2f} s")


@pytest.mark.parametrize("mime", ["text/html", "text/markdown"])
def test_math_in_html_and_markdown_follows_the_latex_rule(mime: str) -> None:
    # the frontend typesets $...$ in both (JupyterLab does), so its macros are made inert too
    check = OutputCheck()
    bundle = check.bundle({mime: "<p>$\\href{javascript:alert(1)}{x} + \\frac{1}{2}$</p>"})
    assert "$\\text{java" in bundle[mime]  # (Markdown's link rule also blocks the scheme)
    assert "{x} + \\frac{1}{2}$" in bundle[mime]
    assert "\\href" not in bundle[mime]
    assert [kind for kind, _ in check.notes()] == ["sanitised " + mime]
    kept = OutputCheck().bundle({mime: "$\\href{https://x.org}{x}$"})
    assert kept[mime] == "$\\href{https://x.org}{x}$"
