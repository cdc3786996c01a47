"""Running cells through a real kernel: values, streaming, errors, limits, escapes (Lua cells
on the lua and wasm runtimes, Python cells on the python runtime)."""

from __future__ import annotations

import pytest

from tests.conftest import ALL_RUNTIMES, FOREVER, STUCK_IN_C, ByLang, Kernel, quoted, runtimes

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
LUA_ONLY = ("lua", "wasm")


def test_globals_persist_between_cells(kernel: Kernel) -> None:
    assert kernel.run("persist_a = 40").status == "ok"
    assert kernel.run("persist_a + 2").result == "42"


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("1 + 1", "2"),
        (quoted("quoted\\n"), quoted("quoted\\n")),
        (ByLang("return 7", "x7 = 7\nx7"), "7"),
        (
            ByLang("return 1, 'two', nil", "1, 'two', None"),
            ByLang('1, "two", nil', "(1, 'two', None)"),
        ),
        (
            ByLang("{1, 2, {x = 3}}", "[1, 2, {'x': 3}]"),
            ByLang("{1, 2, {x = 3}}", "[1, 2, {'x': 3}]"),
        ),
        (
            ByLang("local t = {}\nt.b = 2\nt.a = 1\nt", "t = {}\nt['b'] = 2\nt['a'] = 1\nt"),
            ByLang("{a = 1, b = 2}", "{'b': 2, 'a': 1}"),
        ),
        (ByLang("1/0", "float('inf')"), "inf"),
        (
            ByLang("local t = {}\nt.self = t\nt", "t = {}\nt['self'] = t\nt"),
            ByLang("{self = <cycle>}", "{'self': {...}}"),
        ),
        (
            ByLang(
                "setmetatable({}, {__tostring = function() return 'custom' end})",
                "class C:\n    def __repr__(self): return 'custom'\nC()",
            ),
            "custom",
        ),
    ],
)
def test_value_of_last_expression_is_execute_result(
    kernel: Kernel, code: ByLang[str] | str, shown: ByLang[str] | str
) -> None:
    run = kernel.run(code)
    assert run.status == "ok", run.error
    assert run.result == kernel.pick(shown)


def test_statement_cell_has_no_result(kernel: Kernel) -> None:
    run = kernel.run(ByLang("local unused = 1", "unused = 1"))
    assert run.status == "ok"
    assert run.of_type("execute_result") == []


@pytest.mark.parametrize(
    "code",
    [
        ByLang(
            "function sq_s(a) return a * a end\nsq_s(4);", "def sq_s(a): return a * a\nsq_s(4);"
        ),
        ByLang("1 + 1;  \n", "1 + 1;  \n"),
    ],
)
def test_a_trailing_semicolon_shows_no_value(kernel: Kernel, code: ByLang[str]) -> None:
    # Lua and IPython alike: `plt.plot(...);` shows the figure without the value
    run = kernel.run(code)
    assert run.status == "ok", run.error
    assert run.of_type("execute_result") == []


@runtimes(*LUA_ONLY, why="Lua's assert returns its arguments; Python's assert is a statement")
@pytest.mark.parametrize(
    "code",
    [
        "function sq_t(a) return a * a end\nassert(sq_t(3) == 9)",
        "assert(sq_t(3))",  # assert returns its arguments: 9 would read as a score
        "assert (sq_t(3), 'message')",
        "assert(\n  sq_t(3) == 9,\n  'several lines'\n)",
        "local v = sq_t(5);",
    ],
)
def test_trailing_assert_shows_no_value(kernel: Kernel, code: str) -> None:
    run = kernel.run(code)
    assert run.status == "ok"
    assert run.of_type("execute_result") == []


def test_a_failing_trailing_assert_is_still_an_error(kernel: Kernel) -> None:
    kernel.run(ByLang("function sq_u(a) return a * a end", "def sq_u(a): return a * a"))
    run = kernel.run(
        ByLang(
            "assert(sq_u(3) == 10, 'sq_u(3) should be 10')",
            "assert sq_u(3) == 10, 'sq_u(3) should be 10'",
        )
    )
    assert run.error is not None
    assert run.error["evalue"] == kernel.pick(
        ByLang("cell:1: sq_u(3) should be 10", "sq_u(3) should be 10")
    )
    # a name that merely starts with "assert" is an ordinary value
    assert kernel.run("asserted = 3\nasserted").result == "3"


@runtimes(*LUA_ONLY, why="the Lua kernel's own table printer (Python shows repr())")
def test_long_table_is_pretty_printed_on_several_lines(kernel: Kernel) -> None:
    run = kernel.run('local t = {} for i = 1, 30 do t[i] = "item" .. i end return t')
    assert run.result is not None
    assert run.result.startswith("{\n  ")
    assert '"item30"' in run.result


def test_print_streams_before_the_cell_finishes(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            'print("early")\nlocal t0 = os.clock()\nwhile os.clock() - t0 < 2 do end\n'
            'print("late")',
            'import time\nprint("early")\nt0 = time.time()\nwhile time.time() - t0 < 2: pass\n'
            'print("late")',
        )
    )
    assert run.stdout == "early\nlate\n"
    first = next(i for i, m in enumerate(run.outputs) if m["msg_type"] == "stream")
    # the first line reached the client well before the cell ended
    assert run.reply_at - run.arrivals[first] > 1.0


def test_output_keeps_its_order(kernel: Kernel) -> None:
    run = kernel.run(ByLang("for i = 1, 2000 do print(i) end", "for i in range(1, 2001): print(i)"))
    assert run.stdout == "".join(f"{i}\n" for i in range(1, 2001))


def test_runtime_error_reports_the_cells_own_line(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            "local a = 1\n\nlocal function f()\n  return nil + 1\nend\nf()",
            "a = 1\n\ndef f():\n    return None + 1\n\nf()",
        )
    )
    assert run.status == "error"
    error = run.error
    assert error is not None
    assert error["ename"] == kernel.pick(ByLang("LuaError", "TypeError"))
    tb = "\n".join(error["traceback"])
    if kernel.language == "lua":
        assert error["evalue"].startswith("cell:4:")
        assert "cell:4: in" in tb
        assert "cell:6: in main chunk" in tb
    else:
        assert "line 4, in f" in tb
        assert "line 6, in <module>" in tb
    assert "safekernel" not in tb
    assert "driver" not in tb


def test_syntax_error_reports_line(kernel: Kernel) -> None:
    run = kernel.run("x = 1\ny = = 2")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "SyntaxError"
    assert kernel.pick(ByLang("cell:2:", "line 2")) in run.error["evalue"]


def test_magic_lines_keep_line_numbers(kernel: Kernel) -> None:
    run = kernel.run(ByLang("%timeout 5\nerror('here')", "%timeout 5\nraise ValueError('here')"))
    assert run.error is not None
    if kernel.language == "lua":
        assert run.error["evalue"].startswith("cell:2:")
    else:
        assert "line 2, in <module>" in "\n".join(run.error["traceback"])


def test_unknown_magic_is_a_clear_usage_error(kernel: Kernel) -> None:
    run = kernel.run("%frobnicate\n1")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "UsageError"
    assert "%timeout" in run.error["evalue"]
    assert kernel.run("1").result == "1"


@runtimes(*LUA_ONLY, why="only Lua raises a value that is not an error (Python: TypeError)")
def test_error_object_that_is_a_table(kernel: Kernel) -> None:
    run = kernel.run("error({code = 1})")
    assert run.error is not None
    assert "table" in run.error["evalue"]


def test_busy_loop_hits_time_limit_and_keeps_variables(kernel: Kernel) -> None:
    kernel.run("kept_value = 'still here'")
    run = kernel.run("%timeout 1\n" + FOREVER)
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "time limit exceeded" in run.error["evalue"]
    assert kernel.run("kept_value").result == kernel.pick(quoted("still here"))


def test_pcall_cannot_swallow_the_time_limit(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            "%timeout 1\nwhile true do pcall(function() while true do end end) end",
            "%timeout 1\nwhile True:\n    try:\n        while True: pass\n"
            "    except BaseException:\n        pass",
        )
    )
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"


def test_stuck_c_function_replaces_worker_and_says_variables_are_gone(kernel: Kernel) -> None:
    kernel.run("lost_value = 1")
    # a pattern match that backtracks inside C: no hook can stop it, only the kernel's kill
    run = kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "earlier variables are gone" in run.error["evalue"]
    assert not kernel.defined("lost_value")
    after = kernel.run("1")
    # the spare was already warm: the next cell does not wait for a fresh interpreter
    assert after.reply_at - after.arrivals[0] < 1.0 if after.arrivals else True


def test_next_cell_after_timeout_is_quick(kernel: Kernel) -> None:
    kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    import time

    started = time.monotonic()
    assert kernel.run("1 + 1").result == "2"
    assert time.monotonic() - started < 1.0


def test_memory_limit_is_a_clear_error_and_the_kernel_stays_up(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            "%memory 32M\nlocal t = {} for i = 1, 1e8 do t[i] = i end",
            "%memory 32M\nt = []\nfor i in range(10**8): t.append(i)",
        )
    )
    assert run.error is not None
    assert run.error["ename"] == "MemoryError"
    assert kernel.run("2 * 21").result == "42"


@runtimes(*LUA_ONLY, why="the Lua sandbox's removed libraries (Python's: test_attacks_python)")
@pytest.mark.parametrize(
    ("code", "needle"),
    [
        ("os.execute('id')", "field 'execute'"),
        ("io.open('/etc/passwd')", "global 'io'"),
        ("require('os')", "global 'require'"),
        ("python.eval('1')", "global 'python'"),
        ("debug.getinfo(1)", "global 'debug'"),
        ("string.dump(print)", "field 'dump'"),
        ("(''):dump()", "method 'dump'"),
        ("package.loadlib('x', 'y')", "global 'package'"),
        ("dofile('/etc/passwd')", "global 'dofile'"),
        ("load(string.char(27) .. 'Lua', 'x', 'b')", "binary chunks are not allowed"),
    ],
)
def test_escape_attempt_is_a_clean_lua_error(kernel: Kernel, code: str, needle: str) -> None:
    run = kernel.run(code)
    assert run.status == "error"
    assert run.error is not None
    assert needle in run.error["evalue"]
    assert kernel.run("'alive'").result == '"alive"'


@runtimes(*LUA_ONLY, why="the Lua kernel wraps Lua's string and table functions")
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("('x'):rep(12.5)", "cell:1: bad argument #2 to 'rep'"),
        ("table.move({1}, 1, 1.5, 1)", "cell:1: bad argument #3 to 'move'"),
        ("table.concat({1, {}})", "cell:1: invalid value (table) at index 2"),
    ],
)
def test_argument_errors_of_wrapped_functions_point_at_the_cell(
    kernel: Kernel, code: str, message: str
) -> None:
    run = kernel.run(code)
    assert run.error is not None
    assert run.error["evalue"].startswith(message)
    assert "safekernel" not in run.error["evalue"]
