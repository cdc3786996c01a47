"""P13, the `safe-python` kernel (safekernel's python runtime) in the same run as the rest:

  P13          a trivial Python cell's round trip against the lua runtime's (`safe`), alternated
  P13-isolate  the first cell after `%isolate` (a fresh worker from the pool), both runtimes
  P13-ready    worker ready after claim: a fork from the kernel's own zygote until the worker
               says `ready` (every sandbox layer applied), python and lua, one after the other
  P13-memory   PSS of the kernel's process tree (kernel, zygote, workers) after one cell,
               against ipykernel's

A missing python guest (`pip install 'safekernel[python]'`) leaves these rows without a
safe-python number, reported as missing.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Awaitable, Callable
from functools import partial

from benchmarks.client import RunningKernel
from benchmarks.kernels import KernelDescription
from benchmarks.report import RowResult, Target
from benchmarks.sampling import IPY, PYSAFE, SAFE, Bench, Sides, samplers_for
from benchmarks.stats import summarize

MIB = 1024 * 1024
#: the memory a benchmark worker gets (the kernel's default)
WORKER_MEMORY = 256 * MIB
#: forks before P13-ready records: the python zygote starts its interpreter at the first
WARMUP_WORKERS = 3
LUA = "safekernel (lua)"

TreeMb = Callable[[Bench, KernelDescription, list[int]], Awaitable[float]]


async def _cell_ms(code: str, kernel: RunningKernel) -> float:
    outcome = await kernel.execute(code)
    return outcome.require_ok(code.splitlines()[-1]).elapsed * 1000


def _pair(
    sides: Sides, key: str, title: str, target: Target, notes: list[str] | None = None
) -> RowResult:
    """safe-python's samples against the lua runtime's, from the same alternation."""
    return RowResult(
        key=key,
        title=title,
        unit="ms",
        target=target,
        baseline_name=LUA,
        safekernel=summarize(sides.values(PYSAFE)),
        baseline=summarize(sides.values(SAFE)),
        errors=dict(sides.errors),
        notes=notes or [],
    )


async def ready_ms(runtime: str, count: int, cpu: list[float]) -> float:
    """Fork `count` workers from a zygote of `runtime` as the pool does; the median ms from the
    spawn request to `ready`. Appends each worker's CPU from fork to ready (schedstat) to `cpu`."""
    from safekernel.kernel.pool import WorkerHandle
    from safekernel.kernel.zygote import ZygoteProcess
    from safekernel.runtimes import registry
    from safekernel.wire.confinement import SandboxConfig

    entry = registry.get(runtime)
    config = SandboxConfig(
        address_space=WORKER_MEMORY + entry.address_space_headroom,
        extra_syscalls=tuple(entry.extra_syscalls),
    )
    zygote = ZygoteProcess(entry.name, logging.getLogger("benchmarks"))
    loop = asyncio.get_running_loop()
    walls: list[float] = []
    try:
        for index in range(WARMUP_WORKERS + count):
            started = loop.time()
            pid, pidfd, channel = await zygote.spawn(config, WORKER_MEMORY)
            worker = WorkerHandle(pid=pid, pidfd=pidfd, channel=channel)
            await worker.wait_ready()
            elapsed = (loop.time() - started) * 1000
            with open(f"/proc/{pid}/schedstat") as stat:
                worker_cpu = int(stat.read().split()[0]) / 1e6
            worker.kill()
            if index >= WARMUP_WORKERS:
                walls.append(elapsed)
                cpu.append(worker_cpu)
            await asyncio.sleep(0.01)  # let the zygote reap, as between cells
    finally:
        zygote.close()
    return statistics.median(walls)


async def python_rows(bench: Bench, tree_mb: TreeMb) -> list[RowResult]:
    plan = bench.plan
    kernels = {PYSAFE: bench.kernels[PYSAFE], SAFE: bench.kernels[SAFE]}
    trivial = Sides(bench, (PYSAFE, SAFE))
    isolate = Sides(bench, (PYSAFE, SAFE))
    async with trivial.running(kernels) as running:
        cell = samplers_for(running, partial(_cell_ms, "a = 1"))
        await trivial.interleave(plan.warmup_cells, cell, record=False)
        await trivial.interleave(plan.p4_cells, cell)
        # the pool's spare takes each %isolate cell; P13-isolate is that cell's round trip
        isolated = samplers_for(running, partial(_cell_ms, "%isolate\na = 1"))
        await isolate.interleave(max(3, plan.p2_launches), isolated)
        isolate.errors |= {k: v for k, v in trivial.errors.items() if k not in isolate.errors}

    ready = Sides(bench, (PYSAFE, SAFE))
    cpu: dict[str, list[float]] = {PYSAFE: [], SAFE: []}
    await ready.interleave(
        1,
        {
            PYSAFE: partial(ready_ms, "python", plan.p13_workers, cpu[PYSAFE]),
            SAFE: partial(ready_ms, "lua", plan.p13_workers, cpu[SAFE]),
        },
    )
    cpu_note = ", ".join(
        f"{side} {statistics.median(values):.2f} ms" for side, values in cpu.items() if values
    )

    memory = Sides(bench, (PYSAFE, IPY))
    counts: dict[str, list[int]] = {PYSAFE: [], IPY: []}
    await memory.interleave(
        plan.p8_runs,
        {side: partial(tree_mb, bench, bench.kernels[side], counts[side]) for side in counts},
    )
    return [
        _pair(
            trivial,
            "P13",
            "safe-python trivial cell vs the lua runtime's",
            Target("≤ 2.0x lua", max_ratio=2.0),
        ),
        _pair(
            isolate,
            "P13-isolate",
            "safe-python first cell after %isolate vs lua's",
            Target("none (a pooled worker; reported)"),
        ),
        _pair(
            ready,
            "P13-ready",
            "python worker ready after claim (fork → ready) vs lua's",
            Target("≤ 5 ms", max_value=5.0),
            notes=[
                f"median of {plan.p13_workers} forks per runtime after {WARMUP_WORKERS}; the "
                f"worker's own CPU from fork to ready: {cpu_note or 'not measured'}"
            ],
        ),
        RowResult(
            key="P13-memory",
            title="safe-python kernel tree (kernel, zygote, workers), PSS",
            unit="MB",
            target=Target("none (stated against ipykernel)"),
            baseline_name=IPY,
            safekernel=summarize(memory.values(PYSAFE)),
            baseline=summarize(memory.values(IPY)),
            errors=dict(memory.errors),
            notes=[f"processes in the tree: ipykernel {counts[IPY]}, safe-python {counts[PYSAFE]}"],
        ),
    ]
