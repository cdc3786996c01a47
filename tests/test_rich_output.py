"""Rich output through a real kernel: display.* (Lua) and IPython.display (Python), display(value),
display ids, clear_output, metamethods and `_repr_*_` methods; Lua's record tables, plots and
json as cell values. Lua cells on the lua and wasm runtimes, Python cells on the python one."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ALL_RUNTIMES, ByLang, Kernel, runtimes
from tests.lua_bytes import JPEG_2X2, lua_literal, png

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
#: the Lua kernel's own libraries (Python has IPython.display and `_repr_*_` methods)
LUA_LIBRARY = runtimes("lua", "wasm", why="the Lua kernel's own display, plot and json libraries")
#: what a Python cell imports for the helpers
IPY = "from IPython.display import display, update_display, clear_output, HTML, Markdown, "
IPY += "Latex, SVG, JSON, Image\n"


def py(code: str) -> str:
    """A Python cell with IPython.display's helpers imported."""
    return IPY + code


def only_display(
    code: str | ByLang[str], kernel: Kernel, msg_type: str = "display_data"
) -> dict[str, object]:
    run = kernel.run(code)
    assert run.status == "ok", run.error
    displays = run.of_type(msg_type)
    assert len(displays) == 1, run.outputs
    return dict(displays[0]["content"])


@pytest.mark.parametrize(
    ("code", "mime", "shown"),
    [
        (
            ByLang('display.html("<b>bold</b>")', py('display(HTML("<b>bold</b>"))')),
            "text/html",
            "<b>bold</b>",
        ),
        (
            ByLang('display.markdown("# Title")', py('display(Markdown("# Title"))')),
            "text/markdown",
            "# Title",
        ),
        (ByLang('display.latex("$x^2$")', py('display(Latex("$x^2$"))')), "text/latex", "$x^2$"),
        (
            ByLang(
                "display.svg(\"<svg xmlns='http://www.w3.org/2000/svg'/>\")",
                py("display(SVG(\"<svg xmlns='http://www.w3.org/2000/svg'/>\"))"),
            ),
            "image/svg+xml",
            "<svg",
        ),
    ],
)
def test_display_functions_send_their_mime_type(
    kernel: Kernel, code: ByLang[str], mime: str, shown: str
) -> None:
    content = only_display(code, kernel)
    data = content["data"]
    assert isinstance(data, dict)
    assert data[mime].startswith(shown)
    assert "text/plain" in data


def test_display_json_sends_parsed_json(kernel: Kernel) -> None:
    code = ByLang(
        'display.json({name = "Ada", scores = {1, 2.5}, ok = true})',
        py('display(JSON({"name": "Ada", "scores": [1, 2.5], "ok": True}))'),
    )
    content = only_display(code, kernel)
    assert content["data"]["application/json"] == {  # type: ignore[index]
        "name": "Ada",
        "scores": [1, 2.5],
        "ok": True,
    }


def test_display_png_is_validated_and_base64_encoded_by_the_kernel(kernel: Kernel) -> None:
    image = png(3, 2)
    code = ByLang(
        f"display.png({lua_literal(image)}, {{width = 120}})",
        py(f"display(Image({image!r}, width=120))"),
    )
    content = only_display(code, kernel)
    assert base64.b64decode(content["data"]["image/png"]) == image  # type: ignore[index]
    assert content["metadata"] == {"image/png": {"width": 120}}


def test_display_jpeg_is_validated_and_base64_encoded_by_the_kernel(kernel: Kernel) -> None:
    # IPython's Image tells a JPEG by its bytes' signature
    code = ByLang(f"display.jpeg({lua_literal(JPEG_2X2)})", py(f"display(Image({JPEG_2X2!r}))"))
    content = only_display(code, kernel)
    assert base64.b64decode(content["data"]["image/jpeg"]) == JPEG_2X2  # type: ignore[index]


def test_display_with_id_and_update_replaces_the_output(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            'display.html("<p>step 1</p>", {id = "progress"})\n'
            'display.html("<p>step 2</p>", {id = "progress", update = true})',
            py(
                'display(HTML("<p>step 1</p>"), display_id="progress")\n'
                'update_display(HTML("<p>step 2</p>"), display_id="progress")'
            ),
        )
    )
    first, update = run.of_type("display_data"), run.of_type("update_display_data")
    assert len(first) == 1
    assert len(update) == 1
    assert first[0]["content"]["transient"] == {"display_id": "progress"}
    assert update[0]["content"]["transient"] == {"display_id": "progress"}
    assert update[0]["content"]["data"]["text/html"] == "<p>step 2</p>"


def test_update_without_id_is_a_clear_error(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang('display.html("x", {update = true})', py('display(HTML("x"), update=True)'))
    )
    assert run.error is not None
    if kernel.language == "lua":
        assert "needs the id" in run.error["evalue"]
        assert run.error["evalue"].startswith("cell:1:")
    else:  # IPython's own words
        assert run.error["evalue"] == "display_id required for update_display"
    assert run.of_type("display_data") == []


def test_clear_output_sends_clear_with_wait(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            'print("a")\nclear_output(true)\nprint("b")',
            py('print("a")\nclear_output(wait=True)\nprint("b")'),
        )
    )
    clears = run.of_type("clear_output")
    assert [c["content"]["wait"] for c in clears] == [True]


def test_display_of_a_value_uses_its_own_forms(kernel: Kernel) -> None:
    code = ByLang(
        "local Money = {__html = function(m) return '<b>' .. m.n .. ' €</b>' end,\n"
        "  __latex = function(m) return '$' .. m.n .. '$' end,\n"
        "  __tostring = function(m) return m.n .. ' EUR' end}\n"
        "display(setmetatable({n = 5}, Money))",
        "class Money:\n    n = 5\n"
        "    def _repr_html_(self): return f'<b>{self.n} €</b>'\n"
        "    def _repr_latex_(self): return f'${self.n}$'\n"
        "    def __repr__(self): return f'{self.n} EUR'\n"
        "display(Money())",
    )
    data = only_display(code, kernel)["data"]
    assert data == {  # type: ignore[comparison-overlap]
        "text/plain": "5 EUR",
        "text/html": "<b>5 €</b>",
        "text/latex": "$5$",
    }


def test_cell_value_with_metamethods_is_an_execute_result_with_several_types(
    kernel: Kernel,
) -> None:
    code = ByLang(
        "setmetatable({}, {__markdown = function() return '**md**' end,\n"
        "  __svg = function() return '<svg/>' end, __tostring = function() return 'T' end})",
        "class T:\n    def _repr_markdown_(self): return '**md**'\n"
        "    def _repr_svg_(self): return '<svg/>'\n    def __repr__(self): return 'T'\nT()",
    )
    data = only_display(code, kernel, "execute_result")["data"]
    assert data == {  # type: ignore[comparison-overlap]
        "text/plain": "T",
        "text/markdown": "**md**",
        "image/svg+xml": "<svg/>",
    }


@LUA_LIBRARY
def test_array_of_records_is_an_html_table(kernel: Kernel) -> None:
    code = '{{name = "Ada", born = 1815}, {name = "Alan <T>", born = 1912}}'
    data = only_display(code, kernel, "execute_result")["data"]
    html = data["text/html"]  # type: ignore[index]
    table = ET.fromstring(html)
    assert [th.text for th in table.iter("th")] == ["born", "name"]
    assert [td.text for td in table.iter("td")] == ["1815", "Ada", "1912", "Alan <T>"]
    assert data["text/plain"].startswith("{{born = 1815")  # type: ignore[index]


@LUA_LIBRARY
def test_display_table_keeps_the_given_column_order(kernel: Kernel) -> None:
    code = 'display.table({{name = "Ada", born = 1815}}, {columns = {"name", "born"}})'
    html = only_display(code, kernel)["data"]["text/html"]  # type: ignore[index]
    assert [th.text for th in ET.fromstring(html).iter("th")] == ["name", "born"]


def test_plain_list_is_not_a_table(kernel: Kernel) -> None:
    data = only_display(ByLang("{1, 2, 3}", "[1, 2, 3]"), kernel, "execute_result")["data"]
    assert data == {"text/plain": kernel.pick(ByLang("{1, 2, 3}", "[1, 2, 3]"))}  # type: ignore[comparison-overlap]


@LUA_LIBRARY
def test_plot_as_cell_value_is_svg(kernel: Kernel) -> None:
    code = 'plot.line({1, 4, 9, 16}, {title = "squares", xlabel = "n"})'
    data = only_display(code, kernel, "execute_result")["data"]
    svg = ET.fromstring(data["image/svg+xml"])  # type: ignore[index]
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert data["text/plain"] == "<plot.line: 1 series, 4 points>"  # type: ignore[index]


@LUA_LIBRARY
def test_display_of_a_plot_is_svg(kernel: Kernel) -> None:
    data = only_display("display(plot.bar({'a', 'b'}, {3, 5}))", kernel)["data"]
    assert "image/svg+xml" in data  # type: ignore[operator]


@LUA_LIBRARY
def test_json_module_is_loaded(kernel: Kernel) -> None:
    run = kernel.run("json.decode('{\"a\": [1, 2]}').a[2] + #json.encode({x = 1})")
    assert run.result == "9"


@runtimes("lua", "wasm", why="IPython ignores a _repr_*_ that fails or returns a non-string")
def test_failing_metamethod_is_a_clear_error(kernel: Kernel) -> None:
    run = kernel.run("setmetatable({}, {__html = function() return 42 end})")
    assert run.error is not None
    assert run.error["evalue"] == (
        "could not show the result: '__html' must return a string (got number)"
    )


def test_endless_metamethod_is_stopped_by_the_time_limit(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            "%timeout 1\nsetmetatable({}, {__html = function() while true do end end})",
            "%timeout 1\nclass Endless:\n    def _repr_html_(self):\n        while True: pass\n"
            "Endless()",
        )
    )
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert kernel.run("1").result == "1"


def test_outputs_keep_their_order_with_prints(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            'print("one")\ndisplay.html("<i>two</i>")\nprint("three")',
            py('print("one")\ndisplay(HTML("<i>two</i>"))\nprint("three")'),
        )
    )
    kinds = [
        m["content"].get("text", "").strip() or m["msg_type"]
        for m in run.outputs
        if m["msg_type"] in ("stream", "display_data")
    ]
    assert kinds == ["one", "display_data", "three"]


@runtimes("lua", "wasm", why="Lua strings are bytes; Python's are text")
def test_non_utf8_string_is_shown_with_replacement_characters(kernel: Kernel) -> None:
    content = only_display('display.html("caf\\xe9 \\xff ok")', kernel)
    assert content["data"]["text/html"] == "caf\ufffd \ufffd ok"  # type: ignore[index]
    run = kernel.run('print("\\xff\\xfe")\nreturn "\\xc3("')
    assert run.stdout == "\ufffd\ufffd\n"
    assert run.result == '"\ufffd("'


#: an HTML output with active content around a table: the kernel keeps the table only
ACTIVE_TABLE = (
    "<script>document.title='pwned'</script><table border='1' class='t'><tr>"
    "<td colspan='2' onclick='alert(1)'>kept</td></tr></table><img src=x onerror=alert(1)>"
)
SANITISED = "safekernel: removed a script or other active content from this cell's HTML output"


def test_html_output_loses_its_script_and_keeps_its_table(kernel: Kernel) -> None:
    code = ByLang(
        f'display.html("{ACTIVE_TABLE}")\ndisplay.html("<b>second</b><script>x()</script>")',
        py(f'display(HTML("{ACTIVE_TABLE}"))\ndisplay(HTML("<b>second</b><script>x()</script>"))'),
    )
    run = kernel.run(code)
    assert run.status == "ok", run.error
    first, second = (d["content"]["data"]["text/html"] for d in run.of_type("display_data"))
    assert first == (
        '<table border="1" class="t"><tbody><tr><td colspan="2">kept</td></tr></tbody></table>'
        '<img src="x">'
    )
    assert second == "<b>second</b>"
    assert run.stderr.count(SANITISED) == 1  # once per cell
    assert kernel.run(code).stderr.count(SANITISED) == 1  # and again for the next cell


@runtimes("python", why="a Python object's _repr_html_ (Lua's __html is the same display path)")
def test_repr_html_value_loses_its_script(kernel: Kernel) -> None:
    code = f"class Widget:\n    def _repr_html_(self):\n        return {ACTIVE_TABLE!r}\nWidget()"
    run = kernel.run(code)
    assert run.status == "ok", run.error
    html = run.of_type("execute_result")[0]["content"]["data"]["text/html"]
    assert '<td colspan="2">kept</td>' in html
    for active in ("script", "onerror", "onclick"):
        assert active not in html
    assert SANITISED in run.stderr


def test_markdown_raw_html_is_made_literal(kernel: Kernel) -> None:
    text = "> quote, a < b\\n\\n<img src=x onerror=alert(1)> [x](javascript:alert(1))"
    code = ByLang(f'display.markdown("{text}")', py(f'display(Markdown("{text}"))'))
    shown = only_display(code, kernel)["data"]["text/markdown"]  # type: ignore[index]
    assert shown == (
        "> quote, a < b\n\n&lt;img src=x onerror=alert(1)> [x](javascript-blocked:alert(1))"
    )
