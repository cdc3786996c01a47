"""Running Lua cells through a real kernel: values, streaming, errors, limits, escapes."""

from __future__ import annotations

import pytest

from tests.conftest import BOTH_RUNTIMES, Kernel

#: run against the lua and the wasm runtime (the same Lua code behind both)
RUNTIMES = BOTH_RUNTIMES


def test_globals_persist_between_cells(kernel: Kernel) -> None:
    assert kernel.run("persist_a = 40").status == "ok"
    assert kernel.run("persist_a + 2").result == "42"


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("1 + 1", "2"),
        ('"quoted\\n"', '"quoted\\n"'),
        ("return 7", "7"),
        ("return 1, 'two', nil", '1, "two", nil'),
        ("{1, 2, {x = 3}}", "{1, 2, {x = 3}}"),
        ("local t = {}\nt.b = 2\nt.a = 1\nt", "{a = 1, b = 2}"),
        ("1/0", "inf"),
        ("local t = {}\nt.self = t\nt", "{self = <cycle>}"),
        ("setmetatable({}, {__tostring = function() return 'custom' end})", "custom"),
    ],
)
def test_value_of_last_expression_is_execute_result(kernel: Kernel, code: str, shown: str) -> None:
    run = kernel.run(code)
    assert run.status == "ok"
    assert run.result == shown


def test_statement_cell_has_no_result(kernel: Kernel) -> None:
    run = kernel.run("local unused = 1")
    assert run.status == "ok"
    assert run.of_type("execute_result") == []


@pytest.mark.parametrize(
    "code",
    [
        "function sq_t(a) return a * a end\nassert(sq_t(3) == 9)",
        "assert(sq_t(3))",  # assert returns its arguments: 9 would read as a score
        "assert (sq_t(3), 'message')",
        "assert(\n  sq_t(3) == 9,\n  'several lines'\n)",
        "1 + 1;",
        "sq_t(4);  \n",
        "local v = sq_t(5);",
    ],
)
def test_trailing_assert_or_semicolon_shows_no_value(kernel: Kernel, code: str) -> None:
    run = kernel.run(code)
    assert run.status == "ok"
    assert run.of_type("execute_result") == []


def test_a_failing_trailing_assert_is_still_an_error(kernel: Kernel) -> None:
    kernel.run("function sq_u(a) return a * a end")
    run = kernel.run("assert(sq_u(3) == 10, 'sq_u(3) should be 10')")
    assert run.error is not None
    assert run.error["evalue"] == "cell:1: sq_u(3) should be 10"
    # a name that merely starts with "assert" is an ordinary value
    assert kernel.run("asserted = 3\nasserted").result == "3"


def test_long_table_is_pretty_printed_on_several_lines(kernel: Kernel) -> None:
    run = kernel.run('local t = {} for i = 1, 30 do t[i] = "item" .. i end return t')
    assert run.result is not None
    assert run.result.startswith("{\n  ")
    assert '"item30"' in run.result


def test_print_streams_before_the_cell_finishes(kernel: Kernel) -> None:
    run = kernel.run(
        'print("early")\nlocal t0 = os.clock()\nwhile os.clock() - t0 < 2 do end\nprint("late")'
    )
    assert run.stdout == "early\nlate\n"
    first = next(i for i, m in enumerate(run.outputs) if m["msg_type"] == "stream")
    # the first line reached the client well before the cell ended
    assert run.reply_at - run.arrivals[first] > 1.0


def test_output_keeps_its_order(kernel: Kernel) -> None:
    run = kernel.run("for i = 1, 2000 do print(i) end")
    assert run.stdout == "".join(f"{i}\n" for i in range(1, 2001))


def test_runtime_error_reports_the_cells_own_line(kernel: Kernel) -> None:
    run = kernel.run("local a = 1\n\nlocal function f()\n  return nil + 1\nend\nf()")
    assert run.status == "error"
    error = run.error
    assert error is not None
    assert error["ename"] == "LuaError"
    assert error["evalue"].startswith("cell:4:")
    tb = "\n".join(error["traceback"])
    assert "cell:4: in" in tb
    assert "cell:6: in main chunk" in tb
    assert "safekernel" not in tb
    assert ".py" not in tb


def test_syntax_error_reports_line(kernel: Kernel) -> None:
    run = kernel.run("x = 1\ny = = 2")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "SyntaxError"
    assert "cell:2:" in run.error["evalue"]


def test_magic_lines_keep_line_numbers(kernel: Kernel) -> None:
    run = kernel.run("%timeout 5\nerror('here')")
    assert run.error is not None
    assert run.error["evalue"].startswith("cell:2:")


def test_unknown_magic_is_a_clear_usage_error(kernel: Kernel) -> None:
    run = kernel.run("%frobnicate\n1")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "UsageError"
    assert "%timeout" in run.error["evalue"]
    assert kernel.run("1").result == "1"


def test_error_object_that_is_a_table(kernel: Kernel) -> None:
    run = kernel.run("error({code = 1})")
    assert run.error is not None
    assert "table" in run.error["evalue"]


def test_busy_loop_hits_time_limit_and_keeps_variables(kernel: Kernel) -> None:
    kernel.run("kept_value = 'still here'")
    run = kernel.run("%timeout 1\nwhile true do end")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "time limit exceeded" in run.error["evalue"]
    assert kernel.run("kept_value").result == '"still here"'


def test_pcall_cannot_swallow_the_time_limit(kernel: Kernel) -> None:
    run = kernel.run("%timeout 1\nwhile true do pcall(function() while true do end end) end")
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"


def test_stuck_c_function_replaces_worker_and_says_variables_are_gone(kernel: Kernel) -> None:
    kernel.run("lost_value = 1")
    # a pattern match that backtracks inside C: no hook can stop it, only the kernel's kill
    run = kernel.run("%timeout 0.5\nstring.rep('a', 3e6):find('.-.-.-.-b')")
    assert run.status == "error"
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "earlier variables are gone" in run.error["evalue"]
    after = kernel.run("lost_value")
    assert after.status == "ok"
    assert after.result == "nil"
    # the spare was already warm: the next cell does not wait for a fresh interpreter
    assert after.reply_at - after.arrivals[0] < 1.0 if after.arrivals else True


def test_next_cell_after_timeout_is_quick(kernel: Kernel) -> None:
    kernel.run("%timeout 0.5\nstring.rep('a', 3e6):find('.-.-.-.-b')")
    import time

    started = time.monotonic()
    assert kernel.run("1 + 1").result == "2"
    assert time.monotonic() - started < 1.0


def test_memory_limit_is_a_clear_error_and_the_kernel_stays_up(kernel: Kernel) -> None:
    run = kernel.run("%memory 32M\nlocal t = {} for i = 1, 1e8 do t[i] = i end")
    assert run.error is not None
    assert run.error["ename"] == "MemoryError"
    assert kernel.run("2 * 21").result == "42"


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
