"""No real address reaches a cell, through a real kernel: results, errors, inspection and
printed text show stable opaque ids ("table: 0x00000007") instead of heap or code addresses.
The attack cells tests/attacks/addr_*.lua probe tostring, print, string.format and error
messages from inside a cell; these check what the kernel sends to the frontend."""

from __future__ import annotations

import re

from tests.conftest import Kernel
from tests.test_editor import inspect

#: an address as Lua prints it on a 64-bit host has more than 8 hex digits
REAL_ADDRESS = re.compile(r"0x[0-9a-fA-F]{9,}")
OPAQUE = r"0x[0-9a-f]{8}"


def test_results_show_opaque_ids(kernel: Kernel) -> None:
    for code, shown in (
        ("return print", rf"^function: {OPAQUE}$"),
        ("return coroutine.create(print)", rf"^thread: {OPAQUE}$"),
        ("return setmetatable({}, { __name = 'Widget', __index = {} })", r"\{\}|Widget"),
        ("return { [print] = 1, [{}] = 2, [coroutine.running()] = 3 }", rf"\[function: {OPAQUE}\]"),
        ("return print, string.format, {}", rf"function: {OPAQUE}"),
    ):
        run = kernel.run(code)
        assert run.error is None, run.error
        assert run.result is not None
        assert re.search(shown, run.result), (code, run.result)
        assert not REAL_ADDRESS.search(run.result), (code, run.result)


def test_an_object_keeps_its_id_across_cells(kernel: Kernel) -> None:
    kernel.run("kept_object = {}\nfirst_seen = tostring(kept_object)")
    run = kernel.run("return tostring(kept_object) == first_seen, string.format('%p', kept_object)")
    assert run.result is not None
    assert run.result.startswith("true")
    assert re.search(OPAQUE, run.result)
    assert not REAL_ADDRESS.search(run.result)


def test_errors_and_stdout_show_opaque_ids(kernel: Kernel) -> None:
    run = kernel.run("print(print, {}, coroutine.running())\nerror(tostring(string.rep))")
    assert run.error is not None
    text = run.stdout + run.error["evalue"] + "\n".join(run.error["traceback"])
    assert re.search(rf"function: {OPAQUE}", run.error["evalue"])
    assert not REAL_ADDRESS.search(text), text
    run = kernel.run("local t = setmetatable({}, { __name = 'Box' }) error(t)")
    assert run.error is not None
    assert not REAL_ADDRESS.search(run.error["evalue"])


def test_inspect_shows_no_addresses(kernel: Kernel) -> None:
    kernel.run("inspected_thread = coroutine.create(print)\ninspected_table = { f = print }")
    for name in ("inspected_thread", "inspected_table", "inspected_table.f", "print"):
        text = inspect(kernel, name) or ""
        assert not REAL_ADDRESS.search(text), (name, text)
    assert re.search(rf"thread: {OPAQUE}", inspect(kernel, "inspected_thread") or "")
