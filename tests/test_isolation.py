"""Isolation modes through real kernels: `cell` shares nothing between cells; `%isolate` runs
one cell fresh in `session` mode while the session's variables wait for the next cell. Lua cells
on the lua and wasm runtimes, Python cells on the python runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import (
    ALL_RUNTIMES,
    STUCK_IN_C,
    ByLang,
    Kernel,
    leftovers,
    quoted,
    snapshot,
    start_kernel,
)

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES


@pytest.fixture(scope="module")
def cell_kernel(runtime: str) -> Iterator[Kernel]:
    k = start_kernel("--SafeKernel.isolation=cell", runtime=runtime)
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def test_cell_mode_shares_no_global_between_cells(cell_kernel: Kernel) -> None:
    assert cell_kernel.run("shared = 1\nshared").result == "1"
    assert not cell_kernel.defined("shared")


def test_cell_mode_shares_no_change_to_library_tables(cell_kernel: Kernel) -> None:
    planted = cell_kernel.run(
        ByLang(
            "string.planted = 'x'\nmath.pi = 3",
            "import math, string\nstring.planted = 'x'\nmath.pi = 3",
        )
    )
    assert planted.status == "ok", planted.error
    run = cell_kernel.run(ByLang("string.planted", "import string\nhasattr(string, 'planted')"))
    assert run.result == cell_kernel.pick(ByLang("nil", "False"))
    run = cell_kernel.run(ByLang("math.pi > 3.14", "import math\nmath.pi > 3.14"))
    assert run.result == cell_kernel.pick(ByLang("true", "True"))


def test_cell_mode_hard_failure_does_not_talk_about_lost_variables(cell_kernel: Kernel) -> None:
    run = cell_kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "gone" not in run.error["evalue"]
    assert cell_kernel.run("'next'").result == cell_kernel.pick(quoted("next"))


def test_isolate_runs_one_cell_without_the_sessions_variables(kernel: Kernel) -> None:
    kernel.run("session_var = 5")
    seen = kernel.run(
        ByLang("%isolate\nsession_var ~= nil", "%isolate\n'session_var' in globals()")
    )
    assert seen.result == kernel.pick(ByLang("false", "False"))
    assert kernel.run("session_var").result == "5"


def test_isolate_cell_changes_do_not_reach_the_session(kernel: Kernel) -> None:
    kernel.run("iso_kept = 'session'")
    assert kernel.run("%isolate\niso_kept = 'isolated'\niso_leak = 1").status == "ok"
    assert kernel.run("iso_kept").result == kernel.pick(quoted("session"))
    assert not kernel.defined("iso_leak")


def test_isolate_cell_that_breaks_a_hard_limit_keeps_the_sessions_variables(
    kernel: Kernel,
) -> None:
    kernel.run("survivor = 'yes'")
    run = kernel.run("%isolate\n%timeout 0.5\n" + STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "Your variables are kept" in run.error["evalue"]
    assert kernel.run("survivor").result == kernel.pick(quoted("yes"))


def test_two_kernels_never_see_each_others_state(kernel: Kernel, runtime: str) -> None:
    """Threat model: a session cannot see another session's state (separate worker processes,
    separate interpreter states, separate zygotes)."""
    other = start_kernel(runtime=runtime)
    try:
        kernel.run("shared_secret = 'kernel A only'")
        poisoned = other.run(
            ByLang(
                "string.upper = function() return 'poisoned' end",
                "import string\nstring.capwords = lambda s: 'poisoned'",
            )
        )
        assert poisoned.status == "ok", poisoned.error
        assert not other.defined("shared_secret")
        assert kernel.run("shared_secret").result == kernel.pick(quoted("kernel A only"))
        upper = kernel.run(ByLang("('abc'):upper()", "import string\nstring.capwords('abc')"))
        assert upper.result == kernel.pick(ByLang('"ABC"', "'Abc'"))
    finally:
        other.shutdown()
