"""Where the editor and console fell short for a new user: a line of magics waits for its
cell's body, `name?` shows help as the README promises, Shift+Tab inside a call's parentheses
finds the called function, and continuation lines are indented by block depth. Through a real
kernel, and through `jupyter console` in a pseudo-terminal."""

from __future__ import annotations

import os

import pexpect
import pytest

from tests.conftest import Kernel
from tests.test_console import ANSI, read_until_prompt
from tests.test_editor import inspect, reply


@pytest.mark.parametrize(
    ("code", "status", "indent"),
    [
        ("%timeout 1", "incomplete", ""),
        ("%timeout 1\n%memory 64M", "incomplete", ""),
        ("%timeout 1\nx = 1", "complete", None),
        ("%timeout 1\nfunction f()", "incomplete", "  "),
        ("%sandbox", "complete", None),
        ("%timeout 1\n%usage", "complete", None),
        ("%timeout soon", "invalid", None),
        ("string.format?", "complete", None),
        ("function f()\n  if x then", "incomplete", "    "),
        ("for i = 1, 3 do\n  t = {\n    a = {", "incomplete", "      "),
        ("s = 'end end' -- end\nfunction g()", "incomplete", "  "),
        ("x = [[\nend\n]] function h()\n  repeat", "incomplete", "    "),
    ],
)
def test_is_complete(kernel: Kernel, code: str, status: str, indent: str | None) -> None:
    content = reply(kernel, kernel.kc.is_complete(code))
    assert content["status"] == status
    if indent is not None:
        assert content["indent"] == indent


def test_a_cell_of_only_limit_magics_says_nothing_ran(kernel: Kernel) -> None:
    run = kernel.run("%timeout 1")
    assert run.status == "ok"
    assert "holds only magics and no code, so nothing ran" in run.stderr


def test_a_lone_percent_is_a_usage_error(kernel: Kernel) -> None:
    run = kernel.run("%\nx = 1")
    assert run.error is not None
    assert run.error["ename"] == "UsageError"
    assert "lone `%`" in run.error["evalue"]


@pytest.mark.parametrize(
    "code", ["string.format?", "string.format??", "?string.format", "  string.format?  "]
)
def test_question_mark_pages_the_doc(kernel: Kernel, code: str) -> None:
    run = kernel.run(code)
    assert run.status == "ok"
    [page] = run.reply["content"]["payload"]
    assert page["source"] == "page"
    assert page["data"]["text/plain"] == inspect(kernel, "string.format")
    assert run.reply["metadata"]["verdict"] == "ok"


def test_question_mark_on_an_unknown_name_says_so(kernel: Kernel) -> None:
    run = kernel.run("no_such_thing?")
    assert run.status == "ok"
    assert run.reply["content"]["payload"] == []
    assert "Object `no_such_thing` not found." in run.stdout


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("string.format(", "string.format"),
        ("string.format ('%d', ", "string.format"),
        ("plot.line({1, 2}, ", "plot.line"),
        ("print(string.format('%d', 1), ", "print"),
        ("json.encode({a = (1 + 2), b = ", "json.encode"),
    ],
)
def test_inspect_inside_a_calls_parentheses_finds_the_function(
    kernel: Kernel, code: str, name: str
) -> None:
    assert inspect(kernel, code) == inspect(kernel, name)
    assert inspect(kernel, code) is not None


def test_inspect_prefers_the_name_under_the_cursor(kernel: Kernel) -> None:
    code = "print(string.format"
    assert inspect(kernel, code) == inspect(kernel, "string.format")
    # nothing to find at the cursor and no call around it
    assert inspect(kernel, "x = (1 + 2) * ") is None


def test_console_waits_for_the_body_of_a_magic_and_shows_help() -> None:
    child = pexpect.spawn(
        "jupyter",
        ["console", "--kernel", "safe", "--ZMQTerminalInteractiveShell.colors=NoColor"],
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "TERM": "dumb", "PAGER": "cat"},
        dimensions=(40, 200),
    )
    try:
        read_until_prompt(child, 1)
        # the magic line alone does not run: the console waits for the code it is for
        child.sendline("%timeout 0.5")
        child.sendline("while true do end")
        out = read_until_prompt(child, 2)
        assert "time limit exceeded: the cell ran longer than 0.5 s" in out
        child.sendline("string.format?")
        out = ANSI.sub("", read_until_prompt(child, 3))
        assert "Formats values like C's printf" in out
        assert "SyntaxError" not in out
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
