"""Generated cells through one long-lived real kernel: random Lua programs from a small grammar
(loops, string ops, tables, coroutines, pcall, metatables, load, display calls, errors, limit
hits) and random text. Whatever a cell is, the kernel answers it (the client's guard is far
above the cell's limit plus the kill grace), every reply is well-formed (a status, a verdict in
its metadata, an error with a name and no Python traceback of ours), and the kernel lives on.

Bounded for CI; SAFEKERNEL_FUZZ_EXAMPLES raises the count for a long local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CellRun, Kernel, leftovers, snapshot, start_kernel

FUZZ_EXAMPLES = int(os.environ.get("SAFEKERNEL_FUZZ_EXAMPLES", "0")) or None
#: the client's guard for one cell: far above %timeout 1 plus the kill grace (not a measurement)
GUARD_S = 60.0
LIMITS = "%timeout 1\n%output 64k\n%memory 64M\n"

_NAMES = st.sampled_from(["a", "b", "t", "s", "co", "mt", "f"])
_NUMBERS = st.sampled_from(["0", "1", "-1", "3", "1e3", "1e9", "0/0", "math.huge", "2^53"])
_STRINGS = st.sampled_from(["'x'", "''", "'%d'", "'\\0'", "'\\255'", "'[['", "'(%w+)'"])


def _expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(_NAMES, _NUMBERS, _STRINGS, st.just("{}"), st.just("nil"))
    if depth <= 0:
        return leaf
    sub = _expr(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "..", "==", "<", "//", "%", "and", "or"]), sub).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        ),
        st.tuples(st.sampled_from(["#", "-", "not "]), sub).map(lambda p: f"({p[0]}{p[1]})"),
        st.tuples(sub, _NUMBERS).map(lambda p: f"string.rep(tostring({p[0]}), {p[1]} % 50)"),
        sub.map(lambda e: f"tostring({e}):upper():gsub('.', '%0%0')"),
        st.tuples(sub, sub).map(lambda p: f"{{{p[0]}, k = {p[1]}}}"),
        sub.map(lambda e: f"select('#', pcall(error, {e}))"),
        _STRINGS.map(lambda s: f"string.format({s}, 1)"),
        sub.map(lambda e: f"(load('return ' .. tostring({e})) or print)()"),
        sub.map(lambda e: f"setmetatable({{}}, {{__index = function() return {e} end}}).x"),
    )


def _stmt(depth: int) -> st.SearchStrategy[str]:
    expr = _expr(2)
    simple = st.one_of(
        st.tuples(_NAMES, expr).map(lambda p: f"{p[0]} = {p[1]}"),
        expr.map(lambda e: f"print({e})"),
        expr.map(lambda e: f"display({e})"),
        expr.map(lambda e: f"display.html(tostring({e}))"),
        expr.map(lambda e: f"display.json({{v = tostring({e})}})"),
        expr.map(lambda e: f"error({e})"),
        st.just("while true do end"),
        st.just("local x = {} for i = 1, 1e8 do x[i] = i end"),
        st.just("co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)"),
        st.just("print(pcall(co))"),
        st.just("mt = setmetatable({}, {__gc = function() print('gc') end, __len = error})"),
        st.just("print(pcall(function() return #mt end))"),
        st.just("f = function(n) if n > 0 then return f(n - 1) end return 0 end print(f(1e6))"),
        st.just("print(string.rep('y', 1e5))"),
    )
    if depth <= 0:
        return simple
    body = st.lists(_stmt(depth - 1), min_size=1, max_size=3).map("\n".join)
    return st.one_of(
        simple,
        st.tuples(_NUMBERS, body).map(lambda p: f"for i = 1, {p[0]} % 20 do\n{p[1]}\nend"),
        body.map(lambda b: f"print(pcall(function()\n{b}\nend))"),
        body.map(lambda b: f"co = coroutine.wrap(function()\n{b}\nend)\nprint(pcall(co))"),
        st.tuples(expr, body).map(lambda p: f"if {p[0]} then\n{p[1]}\nend"),
    )


_PROGRAMS = st.lists(_stmt(2), min_size=1, max_size=4).map("\n".join)
_RANDOM_TEXT = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@pytest.fixture(scope="module")
def long_lived() -> Iterator[Kernel]:
    k = start_kernel()
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def assert_well_formed(run: CellRun) -> None:
    content = run.reply["content"]
    assert content["status"] in ("ok", "error"), content
    assert run.reply["metadata"].get("verdict"), run.reply["metadata"]
    if content["status"] == "error":
        assert content["ename"], content
        assert isinstance(content["evalue"], str)
        shown = content["evalue"] + "\n".join(content["traceback"])
        # errors are the cell's or ours, told briefly: never a Python traceback from our code
        assert "Traceback (most recent call last)" not in shown
        assert 'File "/' not in shown


_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES or 40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(program=_PROGRAMS)
def test_generated_lua_programs_get_a_well_formed_reply(long_lived: Kernel, program: str) -> None:
    run = long_lived.run(LIMITS + program, timeout=GUARD_S)
    assert_well_formed(run)


@settings(
    max_examples=FUZZ_EXAMPLES or 25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_RANDOM_TEXT)
def test_random_text_as_a_cell_gets_a_well_formed_reply(long_lived: Kernel, text: str) -> None:
    run = long_lived.run(LIMITS + text, timeout=GUARD_S)
    assert_well_formed(run)


def test_the_kernel_lives_on_after_the_generated_cells(long_lived: Kernel) -> None:
    assert long_lived.km.is_alive()
    assert long_lived.run("print('still here')").stdout == "still here\n"
