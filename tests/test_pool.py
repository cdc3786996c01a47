"""The pool: spares are ready before they are needed, refilled in the background, skipped if
they died while waiting, and a worker lost to a hard limit is replaced by a warm spare."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Kernel, kill_all, leftovers, snapshot, start_kernel, wait_for, workers

STUCK_IN_C = "%timeout 0.5\nstring.rep('a', 3e6):find('.-.-.-.-b')"


@pytest.fixture
def kernel_with(request: pytest.FixtureRequest) -> Iterator[Kernel]:
    k = start_kernel(*request.param)
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


@pytest.mark.parametrize("kernel_with", [["--SafeKernel.pool_size=3"]], indirect=True)
def test_pool_size_spares_are_kept_ready_beside_the_session_worker(kernel_with: Kernel) -> None:
    assert kernel_with.run("1").result == "1"
    # the session's worker plus three spares
    assert wait_for(lambda: len(workers(kernel_with)) == 4)
    kernel_with.run(STUCK_IN_C)
    # the lost worker's place is taken by a spare, and the pool is refilled behind it
    assert kernel_with.run("2").result == "2"
    assert wait_for(lambda: len(workers(kernel_with)) == 4)
    # and stays there: not a momentary count that included the dying worker
    time.sleep(1.5)
    assert len(workers(kernel_with)) == 4


@pytest.mark.parametrize("kernel_with", [["--SafeKernel.pool_size=0"]], indirect=True)
def test_pool_size_zero_still_runs_cells(kernel_with: Kernel) -> None:
    assert kernel_with.run("x = 1\nx + 1").result == "2"
    kernel_with.run(STUCK_IN_C)
    assert kernel_with.run("1 + 2").result == "3"


def test_worker_lost_to_a_hard_limit_is_replaced_by_the_warm_spare(kernel: Kernel) -> None:
    kernel.run("1")
    assert wait_for(lambda: len(workers(kernel)) == 2)
    before = {w.pid for w in workers(kernel)}
    run = kernel.run(STUCK_IN_C)
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert kernel.run("2 + 2").result == "4"
    after = {w.pid for w in workers(kernel)}
    # exactly one of the two earlier workers (the session's) was lost; the other (the spare,
    # already hardened and warm) now holds the session
    assert len(before & after) == 1


@pytest.mark.parametrize(
    "kernel_with", [["--SafeKernel.isolation=cell", "--SafeKernel.pool_size=2"]], indirect=True
)
def test_spares_that_died_while_waiting_are_skipped(kernel_with: Kernel) -> None:
    assert kernel_with.run("1").result == "1"
    assert wait_for(lambda: len(workers(kernel_with)) >= 2)
    kill_all(workers(kernel_with))
    run = kernel_with.run("'served'")
    assert run.status == "ok"
    assert run.result == '"served"'
    # in cell isolation there was no state to lose, so nothing to warn about
    assert run.stderr == ""


def test_worker_killed_between_cells_is_reported_on_the_next_cell(fresh_kernel: Kernel) -> None:
    fresh_kernel.run("doomed = 1")
    kill_all(workers(fresh_kernel))
    run = fresh_kernel.run("doomed")
    assert run.status == "ok"
    assert run.result == "nil"
    assert "stopped between cells" in run.stderr
    assert "variables are gone" in run.stderr
    assert fresh_kernel.run("doomed = 2\ndoomed").result == "2"


def test_an_emptied_pool_starts_one_worker_at_once_and_the_rest_later() -> None:
    """A claim that takes the last spare starts the one worker the next claim needs at once,
    and the others a little later (REFILL_DELAY_S), so the cell now running shares the CPU
    with one worker's start, not with the whole pool's. The real pool, on a real zygote."""
    import asyncio
    import logging

    from safekernel.kernel.pool import Pool
    from safekernel.kernel.zygote import ZygoteProcess
    from safekernel.wire.confinement import SandboxConfig

    memory = 64 * 1024 * 1024

    async def until(condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        log = logging.getLogger("test_pool")
        zygote = ZygoteProcess("lua", log)
        sandbox = SandboxConfig(address_space=memory + 1024 * 1024 * 1024)
        pool = Pool(
            zygote=zygote, sandbox=sandbox, memory=memory, size=2, require_all_layers=False, log=log
        )
        pool.start()
        claimed = []
        try:
            await until(lambda: len(pool._spares) == 2, "two spares became ready")
            claimed.append(await pool.claim())
            assert pool._starting == 0  # one spare is left: its replacement comes later
            claimed.append(await pool.claim())
            assert pool._starting == 1  # none left: one starts now, the other later
            await until(lambda: len(pool._spares) == 2, "the pool was refilled to its size")
        finally:
            for worker in claimed:
                worker.kill()
            await pool.close()

    asyncio.run(scenario())
