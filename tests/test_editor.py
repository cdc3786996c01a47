"""Editor requests through a real kernel: completion (cursor positions in code points),
inspection (docs for every builtin, summaries of user values), and is_complete; Lua cells on
the lua and wasm runtimes, Python cells on the python runtime."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ALL_RUNTIMES, ByLang, Kernel, runtimes

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
LUA_ONLY = ("lua", "wasm")


def reply(kernel: Kernel, msg_id: str) -> dict[str, Any]:
    while True:
        msg = kernel.kc.get_shell_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id:
            return dict(msg["content"])


def complete(kernel: Kernel, code: str, cursor: int | None = None) -> dict[str, Any]:
    return reply(kernel, kernel.kc.complete(code, len(code) if cursor is None else cursor))


def inspect(kernel: Kernel, code: str, cursor: int | None = None) -> str | None:
    content = reply(kernel, kernel.kc.inspect(code, len(code) if cursor is None else cursor))
    assert content["status"] == "ok"
    return content["data"]["text/plain"] if content["found"] else None


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pri", {"print"}),
        (ByLang("fun", "de"), ByLang({"function"}, {"def", "del"})),
        ("p", ByLang({"plot", "pairs", "pcall", "print"}, {"pass", "pow", "print"})),
        (ByLang("string.fo", "str.fo"), ByLang({"format"}, {"str.format"})),
        ("inp", {"input"}),
        ("displ", {"display"}),
    ],
)
def test_completion_offers_names(
    kernel: Kernel, code: str | ByLang[str], expected: set[str] | ByLang[set[str]]
) -> None:
    content = complete(kernel, kernel.pick(code))
    assert kernel.pick(expected) <= set(content["matches"])


@runtimes(*LUA_ONLY, why="the Lua kernel's own libraries (plot, json, display.*, clear_output)")
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("plot.", {"line", "scatter", "bar", "hist", "figure"}),
        ("json.de", {"decode"}),
        ("display.", {"html", "markdown", "svg", "png", "jpeg", "json", "latex", "table"}),
        ("clear_", {"clear_output"}),
    ],
)
def test_completion_offers_library_names(kernel: Kernel, code: str, expected: set[str]) -> None:
    content = complete(kernel, code)
    assert expected <= set(content["matches"])


def test_completion_finds_the_users_own_fields_and_methods(kernel: Kernel) -> None:
    kernel.run(
        ByLang(
            "Account = {}\nAccount.__index = Account\n"
            "function Account.new(b)\n"
            "  return setmetatable({balance = b, owner = 'Ada'}, Account)\nend\n"
            "function Account:deposit(n) self.balance = self.balance + n end\n"
            "function Account:describe() return self.owner end\n"
            "acct = Account.new(10)\ngreeting = 'hello'",
            "class Account:\n"
            "    def __init__(self, b):\n        self.balance, self.owner = b, 'Ada'\n"
            "    def deposit(self, n): self.balance += n\n"
            "    def describe(self): return self.owner\n"
            "acct = Account(10)\ngreeting = 'hello'",
        )
    )
    # Lua completes the name after the dot; Python's rlcompleter the whole dotted name
    prefix = kernel.pick(ByLang("", "acct."))
    fields = complete(kernel, "acct.")
    expected = {prefix + name for name in ("balance", "owner", "deposit", "describe")}
    assert expected <= set(fields["matches"])
    methods = complete(kernel, kernel.pick(ByLang("acct:de", "acct.de")))
    assert methods["matches"] == [prefix + "deposit", prefix + "describe"]
    upper = complete(kernel, kernel.pick(ByLang("greeting:up", "greeting.up")))["matches"]
    assert upper == [kernel.pick(ByLang("upper", "greeting.upper"))]


def test_completion_does_not_run_user_code(kernel: Kernel) -> None:
    kernel.run(
        ByLang(
            "trap_count = 0\n"
            "trap = setmetatable({}, {__index = function() trap_count = trap_count + 1 end})",
            "trap_count = 0\nclass Trap:\n    def __getattr__(self, name):\n"
            "        global trap_count\n        trap_count += 1\n"
            "    @property\n    def xprop(self):\n"
            "        global trap_count\n        trap_count += 1\n"
            "trap = Trap()",
        )
    )
    complete(kernel, "trap.x")
    inspect(kernel, "trap")
    assert kernel.run("trap_count").result == "0"


# the same cell in both languages (Lua's `..` is Python's `+`); Lua completes the name after
# the dot, Python's rlcompleter the whole dotted name
LATER_LINE = ByLang(
    'local café = "日本語"\nprint(café)\ns = "€" .. string.fo',
    'café = "日本語"\nprint(café)\ns = "€" + str.fo',
)


def test_completion_cursor_positions_on_a_later_line_with_non_ascii_text(kernel: Kernel) -> None:
    code = kernel.pick(LATER_LINE)
    content = complete(kernel, code)
    # Jupyter counts cursor positions in unicode code points, not bytes
    replaced = kernel.pick(ByLang("fo", "str.fo"))
    assert content["cursor_end"] == len(code)
    assert content["cursor_start"] == len(code) - len(replaced)
    assert code[content["cursor_start"] : content["cursor_end"]] == replaced
    assert kernel.pick(ByLang("format", "str.format")) in content["matches"]


def test_completion_in_the_middle_of_a_cell(kernel: Kernel) -> None:
    kernel.run(ByLang("", "import math"))
    code = 'x = "ü"\ny = math.fl\nz = 1'
    cursor = code.index("math.fl") + len("math.fl")
    content = complete(kernel, code, cursor)
    match, replaced = kernel.pick(ByLang(("floor", "fl"), ("math.floor", "math.fl")))
    assert content["matches"] == [match]
    assert (content["cursor_start"], content["cursor_end"]) == (cursor - len(replaced), cursor)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        (
            ByLang("string.format", "str.format"),
            ByLang("string.format(fmt, ...) -> string", "Return a formatted version"),
        ),
        ("print", ByLang("print(...)", "Prints the values to a stream")),
        ("display", ByLang("richest form", "Show objects as rich output")),
        ("input", ByLang("password = true", "input(prompt")),
        ("math.pi", "3.14159"),
    ],
)
def test_inspect_shows_the_doc_of_a_builtin(
    kernel: Kernel, name: str | ByLang[str], needle: str | ByLang[str]
) -> None:
    kernel.run(ByLang("", "import math"))
    text = inspect(kernel, f"x = {kernel.pick(name)}")
    assert text is not None
    assert kernel.pick(needle) in text


@runtimes(*LUA_ONLY, why="the Lua kernel's own libraries (plot, json, display.*) and their docs")
@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("display.png", "display.png(bytes"),
        ("plot.line", "plot.line([xs,] ys [, opts]) -> figure"),
        ("json.decode", "json.decode(text"),
    ],
)
def test_inspect_shows_the_doc_of_a_library_name(kernel: Kernel, name: str, needle: str) -> None:
    text = inspect(kernel, f"x = {name}")
    assert text is not None
    assert needle in text


@runtimes(*LUA_ONLY, why="plot figures' methods are the Lua kernel's own library")
def test_inspect_finds_docs_through_aliases_and_methods(kernel: Kernel) -> None:
    kernel.run("fmt = string.format\nfig = plot.figure()")
    assert inspect(kernel, "fmt") is not None
    assert "string.format(" in (inspect(kernel, "fmt") or "")
    assert "fig:line(" in (inspect(kernel, "fig:line") or "")


@runtimes(*LUA_ONLY, why="the Lua kernel's own summaries (Python's: Type/Value/Signature)")
def test_inspect_summarises_user_values(kernel: Kernel) -> None:
    kernel.run(
        "scores = {10, 20, 30, best = 'Ada'}\n"
        "function area(w, h, ...) return w * h end\n"
        "ratio = 0.5\nshadowed_print = 1\nprint = function(s) end"
    )
    assert inspect(kernel, "scores") == ("scores: table with 4 entries (length 3)\nfields: best")
    assert inspect(kernel, "area") == "area(w, h, ...): function defined at cell:2"
    assert inspect(kernel, "ratio") == "ratio: number (float)\n0.5"
    # a cell's own print is not documented as the builtin
    assert "defined at" in (inspect(kernel, "print") or "")
    kernel.run("print = nil")


@runtimes(*LUA_ONLY, why="the Lua kernel writes a doc for each of its names")
def test_every_name_in_a_fresh_environment_has_a_doc(fresh_kernel: Kernel) -> None:
    # every global and every function of a global library table, as a cell sees them
    run = fresh_kernel.run(
        "local names = {}\n"
        "for k, v in pairs(_G) do\n"
        "  if type(v) == 'table' and k ~= '_G' then\n"
        "    for f, fv in pairs(v) do\n"
        "      if type(fv) == 'function' then names[#names + 1] = k .. '.' .. f end\n"
        "    end\n"
        "  end\n"
        "  names[#names + 1] = k\n"
        "end\n"
        "table.sort(names)\nreturn table.concat(names, ' ')"
    )
    assert run.result is not None
    names = run.result.strip('"').split()
    assert len(names) > 100
    # a doc is a signature line and a description line, never the bare "built-in function"
    missing = [name for name in names if (inspect(fresh_kernel, name) or "").count("\n") < 1]
    assert missing == []


def test_is_complete_waits_for_the_end_of_a_block(kernel: Kernel) -> None:
    # Lua's block ends at `end`; Python's, as in IPython, at an empty line
    opened = kernel.pick(ByLang("function f()\n  return 1", "def f():\n  return 1"))
    content = reply(kernel, kernel.kc.is_complete(opened))
    assert content == {"status": "incomplete", "indent": "  "}
    # (a console fills the next line with the indent: `  end`, or spaces only in Python)
    for ending in kernel.pick(ByLang(["\nend", "\n  end"], ["\n", "\n  "])):
        content = reply(kernel, kernel.kc.is_complete(opened + ending))
        assert content["status"] == "complete", ending
    assert reply(kernel, kernel.kc.is_complete("x = = 1"))["status"] == "invalid"
    opened_bracket = kernel.pick(ByLang("t = {", "t = ["))
    assert reply(kernel, kernel.kc.is_complete(opened_bracket))["status"] == "incomplete"
    assert reply(kernel, kernel.kc.is_complete("t = {1,\n 2}"))["status"] == "complete"


# -- adversarial editor input: bounded, and never costs the session ---------------------------

ADVERSARIAL_CODE = {
    "a megabyte without spaces": "x" * 1_000_000,
    "a megabyte of statements without spaces": "x=1;" * 250_000,
    "a name run ending in a bracket": "x" * 200_000 + "(",
    "a megabyte of dots": "a." * 500_000,
    "a megabyte of colons": "a:" * 500_000 + "b",
    "only dots": "." * 1_000_000,
    "deep brackets": "(" * 200_000 + "string.fo",
    "a huge identifier after text": "y = " + "z" * 100_000 + ".fo",
    "Lua pattern syntax": "%[%w_%.:]-([%.:]?)" * 50_000,
    "a long line then a name": "q" * 1_000_000 + " string.fo",
}


@pytest.mark.parametrize("code", ADVERSARIAL_CODE.values(), ids=list(ADVERSARIAL_CODE))
def test_adversarial_editor_requests_answer_and_keep_the_state(kernel: Kernel, code: str) -> None:
    kernel.run(ByLang("kept_across_tab = 41", "kept_across_tab = 41\nstring = str"))
    content = complete(kernel, code)
    assert content["status"] == "ok"
    assert content["cursor_end"] == len(code)
    if code.endswith(" string.fo"):
        expected = ByLang(["format"], ["string.format", "string.format_map"])
        assert content["matches"] == kernel.pick(expected)
    for cursor in (len(code), len(code) // 2, 0):
        content = reply(kernel, kernel.kc.inspect(code, cursor))
        assert content["status"] == "ok"
    content = reply(kernel, kernel.kc.is_complete(code))
    assert content["status"] in ("complete", "incomplete", "invalid", "unknown")
    # the session's worker answered every request itself: it is the same worker, state kept
    run = kernel.run("kept_across_tab")
    assert run.error is None, run.error
    assert run.result == "41"


@runtimes(*LUA_ONLY, why="the Lua completer's bound on a name (rlcompleter completes any)")
def test_names_too_long_to_complete_answer_empty(kernel: Kernel) -> None:
    long_name = "n" * 600
    record = kernel.pick(ByLang("{ field = 1 }", "type('R', (), {'field': 1})()"))
    kernel.run(f"{long_name} = {record}\nshort_table = {record}")
    assert complete(kernel, f"{long_name}.fi")["matches"] == []
    assert inspect(kernel, long_name) is None
    # names of ordinary length still work next to it
    field = kernel.pick(ByLang("field", "short_table.field"))
    assert complete(kernel, f"{long_name} = short_table.fi")["matches"] == [field]
    assert inspect(kernel, f"{long_name} = short_table") is not None


def test_is_complete_of_huge_input_is_unknown(kernel: Kernel) -> None:
    code = "x = 1\n" * 400_000
    assert reply(kernel, kernel.kc.is_complete(code)) == {"status": "unknown"}
    assert kernel.run("6 * 7").result == "42"


def test_completing_a_table_with_many_keys_keeps_the_session(kernel: Kernel) -> None:
    kernel.run(
        ByLang(
            "many = {}\nfor i = 1, 100000 do many['k' .. i] = i end\nkept_after_complete = 7",
            "many = type('Many', (), {})()\nfor i in range(100000): setattr(many, f'k{i}', i)\n"
            "kept_after_complete = 7",
        )
    )
    content = complete(kernel, "many.k")
    assert content["status"] == "ok"
    assert 0 < len(content["matches"]) <= 1000
    assert kernel.run("kept_after_complete").result == "7"
