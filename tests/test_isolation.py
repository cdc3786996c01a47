"""Isolation modes through real kernels: `cell` shares nothing between cells; `%isolate` runs
one cell fresh in `session` mode while the session's variables wait for the next cell."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Kernel, leftovers, snapshot, start_kernel

STUCK_IN_C = "string.rep('a', 3e6):find('.-.-.-.-b')"


@pytest.fixture(scope="module")
def cell_kernel() -> Iterator[Kernel]:
    k = start_kernel("--SafeKernel.isolation=cell")
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def test_cell_mode_shares_no_global_between_cells(cell_kernel: Kernel) -> None:
    assert cell_kernel.run("shared = 1\nshared").result == "1"
    assert cell_kernel.run("shared").result == "nil"


def test_cell_mode_shares_no_change_to_library_tables(cell_kernel: Kernel) -> None:
    assert cell_kernel.run("string.planted = 'x'\nmath.pi = 3").status == "ok"
    assert cell_kernel.run("string.planted").result == "nil"
    assert cell_kernel.run("math.pi > 3.14").result == "true"


def test_cell_mode_hard_failure_does_not_talk_about_lost_variables(cell_kernel: Kernel) -> None:
    run = cell_kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "gone" not in run.error["evalue"]
    assert cell_kernel.run("'next'").result == '"next"'


def test_isolate_runs_one_cell_without_the_sessions_variables(kernel: Kernel) -> None:
    kernel.run("session_var = 5")
    assert kernel.run("%isolate\nsession_var").result == "nil"
    assert kernel.run("session_var").result == "5"


def test_isolate_cell_changes_do_not_reach_the_session(kernel: Kernel) -> None:
    kernel.run("iso_kept = 'session'")
    assert kernel.run("%isolate\niso_kept = 'isolated'\niso_leak = 1").status == "ok"
    assert kernel.run("iso_kept").result == '"session"'
    assert kernel.run("iso_leak").result == "nil"


def test_isolate_cell_that_breaks_a_hard_limit_keeps_the_sessions_variables(
    kernel: Kernel,
) -> None:
    kernel.run("survivor = 'yes'")
    run = kernel.run("%isolate\n%timeout 0.5\n" + STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "Your variables are kept" in run.error["evalue"]
    assert kernel.run("survivor").result == '"yes"'


def test_two_kernels_never_see_each_others_state(kernel: Kernel) -> None:
    """Threat model: a session cannot see another session's state (separate worker processes,
    separate Lua states, separate zygotes)."""
    other = start_kernel()
    try:
        kernel.run("shared_secret = 'kernel A only'")
        other.run("string.upper = function() return 'poisoned' end")
        assert other.run("shared_secret").result == "nil"
        assert kernel.run("shared_secret").result == '"kernel A only"'
        assert kernel.run("('abc'):upper()").result == '"ABC"'
        assert kernel.run("string.upper('abc')").result == '"ABC"'
    finally:
        other.shutdown()
