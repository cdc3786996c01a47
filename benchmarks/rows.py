"""The rows P1-P9: each starts its own kernels, samples the sides (see sampling.py), shuts its
kernels down, and returns its results with their targets."""

from __future__ import annotations

import asyncio
import shutil
import statistics
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from time import perf_counter

from benchmarks.client import CELL_TIMEOUT_S, BenchmarkError, CellError, RunningKernel
from benchmarks.kernels import (
    SAFEKERNEL_PRESTART,
    WALL_LIMIT_S,
    KernelDescription,
    prestart_missing,
)
from benchmarks.processes import settled_processes, tree_memory
from benchmarks.report import RowResult, Target
from benchmarks.sampling import (
    BWRAP,
    FLOOR,
    ILUA,
    IPY,
    PRESTART,
    REFERENCE,
    SAFE,
    Bench,
    Sampler,
    Sides,
    samplers_for,
)
from benchmarks.stats import summarize

try:
    from lupa import lua54
except ImportError:  # the other rows still run; P5 reports the missing reference
    lua54 = None

MB = 1_000_000
# P6: each printed line is 99 characters plus its newline.
LINE_CHARS = 100
PRINT_TIMEOUT_S = 180.0
# P7: the loop runs this long before the interrupt, so it is executing (for safekernel: inside
# the worker), not still being dispatched.
BUSY_SETTLE_S = 0.2
# P7: an interrupt slower than this (20x the target) is a clear miss; more samples of it would
# only stretch the run, so that side stops being sampled (its samples so far are kept).
INTERRUPT_GIVE_UP_MS = 1000.0
INTERRUPT_REPLY_TIMEOUT_S = 15.0
# P9: twenty kernels starting at once on two cores take a while.
MANY_START_TIMEOUT_S = 180.0
SPARE_USS_LIMIT_MB = 5.0
# P10/P11 with the prestart provisioner: time for the spare to finish its imports and zygote.
SPARE_SETTLE_S = 3.0


def _against_ipykernel(
    sides: Sides,
    key: str,
    title: str,
    unit: str,
    target: Target,
    *,
    higher_is_better: bool = False,
    notes: list[str] | None = None,
) -> RowResult:
    """A row of safekernel's samples against ipykernel's, taken in alternation in `sides`."""
    return RowResult(
        key=key,
        title=title,
        unit=unit,
        target=target,
        baseline_name=IPY,
        safekernel=summarize(sides.values(SAFE), higher_is_better=higher_is_better),
        baseline=summarize(sides.values(IPY), higher_is_better=higher_is_better),
        higher_is_better=higher_is_better,
        errors={side: why for side, why in sides.errors.items() if side in (SAFE, IPY)},
        notes=notes or [],
    )


def _against(
    sides: Sides,
    key: str,
    title: str,
    unit: str,
    target: Target,
    *,
    baseline: str,
    notes: list[str] | None = None,
) -> RowResult:
    """A row of safekernel's samples against `baseline`'s (a peer), from the same alternation."""
    return RowResult(
        key=key,
        title=title,
        unit=unit,
        target=target,
        baseline_name=baseline,
        safekernel=summarize(sides.values(SAFE)),
        baseline=summarize(sides.values(baseline)),
        errors={side: why for side, why in sides.errors.items() if side in (SAFE, baseline)},
        notes=notes or [],
    )


def _peer_kernels(bench: Bench, *sides: str) -> dict[str, KernelDescription]:
    return {side: bench.kernels[side] for side in sides if side in bench.kernels}


async def _trivial_ms(kernel: RunningKernel) -> float:
    outcome = await kernel.execute(kernel.description.snippets.trivial)
    return outcome.require_ok("trivial cell").elapsed * 1000


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "—"


async def p1_round_trip(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY, ILUA, FLOOR))
    async with sides.running(_peer_kernels(bench, IPY, SAFE, ILUA, FLOOR)) as kernels:
        trivial = samplers_for(kernels, _trivial_ms)
        await sides.interleave(bench.plan.warmup_cells, trivial, record=False)
        await sides.interleave(bench.plan.p1_cells, trivial)
    return [
        _against_ipykernel(
            sides,
            "P1",
            "trivial cell round trip",
            "ms",
            Target("≤ 0.8x ipykernel", max_ratio=0.8),
        ),
        _against(
            sides,
            "P1-ilua",
            "trivial cell round trip vs ILua",
            "ms",
            Target("≤ 1.0x ILua", max_ratio=1.0),
            baseline=ILUA,
        ),
        _against(
            sides,
            "P1-floor",
            "trivial cell vs ipykernel's Kernel base class, empty do_execute",
            "ms",
            Target("none (where the time goes)"),
            baseline=FLOOR,
            notes=[
                "the floor: ipykernel's Kernel dispatch, Session signing, busy/idle/execute_input "
                "and the reply, with no work; safekernel minus the floor is ours (cell parsing, "
                "the worker's pipe round trip and Lua call, our IOPub frontend)"
            ],
        ),
    ]


async def _cold_start_s(bench: Bench, side: str, ready_s: list[float]) -> float:
    description = bench.kernels[side]
    async with bench.workspace.kernel(description) as kernel:
        first = await kernel.execute(description.snippets.trivial)
        first.require_ok("first trivial cell")
        ready_s.append(kernel.ready_at - kernel.launched_at)
        return first.done_at - kernel.launched_at


async def p2_cold_start(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY, ILUA))
    present = _peer_kernels(bench, IPY, SAFE, ILUA)
    ready: dict[str, list[float]] = {side: [] for side in present}
    samplers = {side: partial(_cold_start_s, bench, side, ready[side]) for side in present}
    await sides.interleave(bench.plan.p2_launches, samplers)
    note = "launch → kernel_info reply, median s: "
    note += ", ".join(f"{side} {_median(values)}" for side, values in ready.items())
    return [
        _against_ipykernel(
            sides,
            "P2",
            "cold start: launch → first cell done",
            "s",
            Target("≤ 1.0x ipykernel", max_ratio=1.0),
            notes=[note],
        ),
        _against(
            sides,
            "P2-ilua",
            "new kernel → first cell done vs ILua",
            "s",
            Target("≤ 1.0x ILua", max_ratio=1.0),
            baseline=ILUA,
        ),
    ]


async def _after_wall_kill_ms(kernel: RunningKernel) -> float:
    code = kernel.description.snippets.killed_by_timeout
    if code is None:
        raise BenchmarkError("this kernel has no killed_by_timeout snippet")
    killed = await kernel.execute(code, timeout=WALL_LIMIT_S + CELL_TIMEOUT_S)
    if killed.status == "ok" or killed.elapsed < WALL_LIMIT_S:
        raise CellError(
            f"the {WALL_LIMIT_S} s wall-clock limit did not stop the cell: status "
            f"{killed.status!r} after {killed.elapsed * 1000:.0f} ms {killed.error}".rstrip()
        )
    return await _trivial_ms(kernel)


def _safekernel_p1(earlier: Mapping[str, RowResult]) -> RowResult | None:
    return earlier.get("P1")


async def p3_after_wall_kill(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE,))
    async with sides.running({SAFE: bench.kernels[SAFE]}) as kernels:
        await sides.interleave(bench.plan.p3_kills, samplers_for(kernels, _after_wall_kill_ms))
    p1 = _safekernel_p1(earlier)
    return [
        RowResult(
            key="P3",
            title="trivial cell after a wall-clock kill",
            unit="ms",
            target=Target("≤ 2x safekernel P1", max_ratio=2.0),
            baseline_name="safekernel P1",
            safekernel=summarize(sides.values(SAFE)),
            baseline=p1.safekernel if p1 else None,
            errors=sides.errors,
            notes=[f"each sample follows `%timeout {WALL_LIMIT_S}` + `while true do end`"],
        )
    ]


async def p4_cell_isolation(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, BWRAP))
    isolated = bench.kernels[SAFE].with_options("--SafeKernel.isolation=cell")
    async with sides.running({SAFE: isolated}) as kernels:
        trivial: dict[str, Sampler] = samplers_for(kernels, _trivial_ms)
        try:
            trivial[BWRAP] = _bwrap_sampler(bench.kernels[SAFE].snippets.trivial)
        except Exception as exc:
            sides.fail(BWRAP, exc)
        await sides.interleave(bench.plan.warmup_cells, trivial, record=False)
        await sides.interleave(bench.plan.p4_cells, trivial)
    p1 = _safekernel_p1(earlier)
    return [
        RowResult(
            key="P4",
            title="trivial cell, isolation=cell",
            unit="ms",
            target=Target("≤ 1.3x safekernel P1", max_ratio=1.3),
            baseline_name="safekernel P1",
            safekernel=summarize(sides.values(SAFE)),
            baseline=p1.safekernel if p1 else None,
            errors={side: why for side, why in sides.errors.items() if side == SAFE},
        ),
        _against(
            sides,
            "P4-bwrap",
            "isolation=cell round trip vs a bwrap sandbox per execution",
            "ms",
            Target("≤ 0.7x bwrap", max_ratio=0.7),
            notes=["bwrap: " + " ".join(BWRAP_ARGV) + " lua5.4 -e CELL, spawn → exit"],
            baseline=BWRAP,
        ),
    ]


# A fresh bubblewrap sandbox per execution: every namespace unshared, read-only /usr, a fresh
# /proc and /dev, no environment, killed with its parent. No Jupyter round trip: the peer is the
# sandbox's own cost, which a per-cell sandbox behind Jupyter must beat.
BWRAP_ARGV = (
    "bwrap",
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--",
)


def _bwrap_sampler(code: str) -> Sampler:
    missing = [name for name in ("bwrap", "lua5.4") if shutil.which(name) is None]
    if missing:
        raise BenchmarkError(
            f"not installed: {', '.join(missing)} (Debian: apt-get install bubblewrap lua5.4)"
        )

    async def run() -> float:
        start = perf_counter()
        process = await asyncio.create_subprocess_exec(
            *BWRAP_ARGV,
            "lua5.4",
            "-e",
            code,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        elapsed = perf_counter() - start
        if process.returncode != 0:
            why = err.decode(errors="replace").strip()[-300:]
            raise CellError(f"bwrap lua5.4 -e failed (exit {process.returncode}): {why}")
        return elapsed * 1000

    return run


def _raw_lua_sampler(code: str) -> Sampler:
    if lua54 is None:
        raise BenchmarkError("lupa is not installed (pip install lupa)")
    runtime = lua54.LuaRuntime()

    async def run() -> float:
        start = perf_counter()
        runtime.execute(code)
        return perf_counter() - start

    return run


async def _sandbox_run_s(kernel: RunningKernel, trivial_ms: list[float]) -> float:
    snippets = kernel.description.snippets
    if snippets.cpu_bound is None:
        raise BenchmarkError("this kernel has no cpu_bound snippet")
    trivial_ms.append(await _trivial_ms(kernel))
    outcome = await kernel.execute(snippets.cpu_bound)
    return outcome.require_ok("CPU-bound cell").elapsed


async def p5_cpu_bound(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, REFERENCE))
    code = bench.kernels[SAFE].snippets.cpu_bound or ""
    samplers: dict[str, Sampler] = {}
    try:
        samplers[REFERENCE] = _raw_lua_sampler(code)
    except Exception as exc:
        sides.fail(REFERENCE, exc)
    trivial_ms: list[float] = []
    async with sides.running({SAFE: bench.kernels[SAFE]}) as kernels:
        samplers |= {name: partial(_sandbox_run_s, k, trivial_ms) for name, k in kernels.items()}
        await sides.interleave(1, samplers, record=False)
        trivial_ms.clear()
        await sides.interleave(bench.plan.p5_runs, samplers)
    safe_s, raw_s = sides.values(SAFE), sides.values(REFERENCE)
    safe_ms, raw_ms = [t * 1000 for t in safe_s], [t * 1000 for t in raw_s]
    note = f"fib(30) median ms: safekernel cell {_median(safe_ms)} end to end (of which a trivial "
    note += f"cell's round trip is {_median(trivial_ms)}), raw lupa.lua54 {_median(raw_ms)}"
    return [
        RowResult(
            key="P5",
            title="CPU-bound Lua fib(30), throughput",
            unit="runs/s",
            target=Target("≥ 0.9x raw lupa.lua54", min_ratio=0.9),
            baseline_name="raw lupa.lua54",
            safekernel=summarize([1 / t for t in safe_s], higher_is_better=True),
            baseline=summarize([1 / t for t in raw_s], higher_is_better=True),
            higher_is_better=True,
            errors=sides.errors,
            notes=[note],
        )
    ]


async def _print_rate(kernel: RunningKernel, lines: int) -> float:
    code = kernel.description.snippets.print_cell(lines, LINE_CHARS - 1)
    outcome = await kernel.execute(code, timeout=PRINT_TIMEOUT_S)
    outcome.require_ok("print cell")
    expected = lines * LINE_CHARS
    if outcome.stdout_chars != expected:
        raise CellError(f"received {outcome.stdout_chars:,} of {expected:,} characters of stdout")
    return expected / outcome.elapsed / MB


async def p6_print_rate(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY))
    lines = bench.plan.p6_bytes // LINE_CHARS
    async with sides.running({IPY: bench.kernels[IPY], SAFE: bench.kernels[SAFE]}) as kernels:
        measure = partial(_print_rate, lines=lines)
        await sides.interleave(bench.plan.p6_runs, samplers_for(kernels, measure))
    return [
        _against_ipykernel(
            sides,
            "P6",
            f"{bench.plan.p6_bytes / MB:g} MB of printed lines",
            "MB/s",
            Target("≥ 1.0x ipykernel", min_ratio=1.0),
            higher_is_better=True,
            notes=[f"{lines:,} lines of {LINE_CHARS} characters, all counted at the client"],
        )
    ]


async def _interrupt_ms(kernel: RunningKernel) -> float:
    cell = kernel.submit(kernel.description.snippets.busy_loop)
    try:
        await asyncio.wait_for(cell.started.wait(), CELL_TIMEOUT_S)
    except BaseException:
        cell.cancel()
        raise
    await asyncio.sleep(BUSY_SETTLE_S)
    sent = perf_counter()
    await kernel.interrupt()
    outcome = await kernel.finish(cell, INTERRUPT_REPLY_TIMEOUT_S)
    if outcome.status == "ok":
        raise CellError("the busy loop ended without an error after the interrupt")
    await _trivial_ms(kernel)  # the kernel must still work; not measured
    return (outcome.reply_at - sent) * 1000


async def p7_interrupt(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY))
    async with sides.running({IPY: bench.kernels[IPY], SAFE: bench.kernels[SAFE]}) as kernels:
        samplers = samplers_for(kernels, _interrupt_ms)
        await sides.interleave(
            bench.plan.p7_interrupts, samplers, give_up_above=INTERRUPT_GIVE_UP_MS
        )
    modes = ", ".join(f"{k.name} {k.interrupt_mode}" for k in bench.kernels.values())
    return [
        _against_ipykernel(
            sides,
            "P7",
            "interrupt busy loop → execute_reply",
            "ms",
            Target("≤ 50 ms and ≤ ipykernel", max_ratio=1.0, max_value=50.0),
            notes=[f"interrupt_mode (from each kernelspec): {modes}", *sides.notes],
        )
    ]


async def _tree_mb(
    bench: Bench, description: KernelDescription, counts: list[int], *, unique: bool
) -> float:
    """PSS of the kernel's settled process tree after one cell, or USS when `unique`."""
    async with bench.workspace.kernel(description) as kernel:
        await _trivial_ms(kernel)
        memory = tree_memory(await settled_processes(kernel.process))
    counts.append(memory.processes)
    return (memory.uss if unique else memory.pss) / MB


async def _spare_uss_mb(bench: Bench, counts: dict[int, list[int]]) -> float:
    one, two = (
        bench.kernels[SAFE].with_options(f"--SafeKernel.pool_size={size}") for size in (1, 2)
    )
    uss_one = await _tree_mb(bench, one, counts[1], unique=True)
    uss_two = await _tree_mb(bench, two, counts[2], unique=True)
    return uss_two - uss_one


async def p8_memory(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    pss = Sides(bench, (SAFE, IPY))
    counts: dict[str, list[int]] = {IPY: [], SAFE: []}
    samplers = {
        side: partial(_tree_mb, bench, bench.kernels[side], counts[side], unique=False)
        for side in (IPY, SAFE)
    }
    await pss.interleave(bench.plan.p8_runs, samplers)
    spare = Sides(bench, (SAFE,))
    pool_counts: dict[int, list[int]] = {1: [], 2: []}
    await spare.interleave(bench.plan.p8_runs, {SAFE: partial(_spare_uss_mb, bench, pool_counts)})
    return [
        _against_ipykernel(
            pss,
            "P8",
            "memory of the kernel's process tree, PSS",
            "MB",
            Target("≤ 1.0x ipykernel", max_ratio=1.0),
            notes=[f"processes in the tree: ipykernel {counts[IPY]}, safekernel {counts[SAFE]}"],
        ),
        RowResult(
            key="P8-spare",
            title="one extra spare worker, USS",
            unit="MB",
            target=Target(f"≤ {SPARE_USS_LIMIT_MB:g} MB", max_value=SPARE_USS_LIMIT_MB),
            baseline_name="",
            safekernel=summarize(spare.values(SAFE)),
            baseline=None,
            errors=spare.errors,
            notes=[
                "total USS with --SafeKernel.pool_size=2 minus with =1; processes: "
                f"{pool_counts[2]} vs {pool_counts[1]}"
            ],
        ),
    ]


async def _run_trivial_cells(kernel: RunningKernel, cells: int) -> None:
    for _ in range(cells):
        await _trivial_ms(kernel)


async def _concurrent_s(bench: Bench, side: str) -> float:
    plan = bench.plan
    kernels: list[RunningKernel] = []

    async def start_one() -> None:
        kernels.append(await bench.workspace.start(bench.kernels[side], MANY_START_TIMEOUT_S))

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(plan.p9_kernels):
                group.create_task(start_one())
        start = perf_counter()
        async with asyncio.TaskGroup() as group:
            for kernel in kernels:
                group.create_task(_run_trivial_cells(kernel, plan.p9_cells))
        return perf_counter() - start
    finally:
        await asyncio.gather(*(kernel.shutdown() for kernel in kernels), return_exceptions=True)


async def p9_many_kernels(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    plan = bench.plan
    sides = Sides(bench, (SAFE, IPY))
    await sides.interleave(1, {side: partial(_concurrent_s, bench, side) for side in (IPY, SAFE)})
    notes = ["kernels are all started before the clock starts; one asyncio client drives them all"]
    if plan.mode == "quick":
        notes.append(f"quick mode: {plan.p9_kernels} kernels x {plan.p9_cells} cells, not 20 x 100")
    return [
        _against_ipykernel(
            sides,
            "P9",
            f"{plan.p9_kernels} kernels x {plan.p9_cells} cells, concurrent",
            "s",
            Target("≤ 1.0x ipykernel", max_ratio=1.0),
            notes=notes,
        )
    ]


async def _restart_s(kernel: RunningKernel, phases: dict[str, list[float]] | None = None) -> float:
    requested = await kernel.restart()
    first = await kernel.execute(kernel.description.snippets.trivial)
    first.require_ok("first trivial cell after the restart")
    if phases is not None:
        phases.setdefault(kernel.description.name, []).append(kernel.relaunched_at - requested)
    return first.done_at - requested


def _prestart(bench: Bench) -> KernelDescription:
    return SAFEKERNEL_PRESTART.with_options(*bench.kernels[SAFE].options)


async def _settled_restart_s(kernel: RunningKernel, phases: dict[str, list[float]]) -> float:
    await asyncio.sleep(SPARE_SETTLE_S)
    return await _restart_s(kernel, phases)


async def _settled_new_kernel_s(bench: Bench, description: KernelDescription) -> float:
    await asyncio.sleep(SPARE_SETTLE_S)
    async with bench.workspace.kernel(description) as kernel:
        first = await kernel.execute(description.snippets.trivial)
        first.require_ok("first trivial cell")
        return first.done_at - kernel.launched_at


async def p10_restart(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY, ILUA, PRESTART))
    kernels_wanted = _peer_kernels(bench, IPY, SAFE, ILUA)
    missing = prestart_missing()
    if missing is None:
        kernels_wanted[PRESTART] = _prestart(bench)
    else:
        sides.fail(PRESTART, BenchmarkError(missing))
    phases: dict[str, list[float]] = {}
    async with sides.running(kernels_wanted) as kernels:
        samplers = samplers_for(kernels, partial(_restart_s, phases=phases))
        if PRESTART in kernels:
            samplers[PRESTART] = partial(_settled_restart_s, kernels[PRESTART], phases)
        await sides.interleave(bench.plan.p10_restarts, samplers)
    note = "restart_kernel() (shutdown_request, wait for exit, launch) → first trivial cell done"
    note += "; of which restart_kernel() itself, median s: "
    note += ", ".join(f"{side} {_median(values)}" for side, values in phases.items())
    settle = f"each sample after {SPARE_SETTLE_S:g} s for the spare to finish starting"
    return [
        _against_ipykernel(
            sides,
            "P10",
            "restart → first cell done",
            "s",
            Target("≤ 0.25 s", max_value=0.25),
            notes=[note],
        ),
        _against(
            sides,
            "P10-ilua",
            "restart → first cell done vs ILua",
            "s",
            Target("≤ 0.25 s", max_value=0.25),
            baseline=ILUA,
        ),
        _prestart_row(
            sides,
            "P10-prestart",
            "restart → first cell done, prestart provisioner",
            Target("≤ 0.25 s", max_value=0.25),
            baseline=SAFE,
            baseline_name="safekernel P10",
            notes=[settle],
        ),
    ]


async def p11_new_kernel(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    """New kernel → first cell done with the prestart provisioner, alternating with plain
    safekernel launches (P2's measure) in the same loop."""
    missing = prestart_missing()
    sides = Sides(bench, (PRESTART, SAFE))
    plain: list[float] = []
    samplers: dict[str, Sampler] = {SAFE: partial(_cold_start_s, bench, SAFE, plain)}
    if missing is None:
        samplers[PRESTART] = partial(_settled_new_kernel_s, bench, _prestart(bench))
    else:
        sides.fail(PRESTART, BenchmarkError(missing))
    # the first prestart launch finds no spare for its command line: it starts one
    await sides.interleave(1, samplers, record=False)
    await sides.interleave(bench.plan.p2_launches, samplers)
    settle = f"each prestart sample after {SPARE_SETTLE_S:g} s for the spare to finish starting"
    return [
        _prestart_row(
            sides,
            "P11-prestart",
            "new kernel → first cell done, prestart provisioner",
            Target("≤ 0.15 s", max_value=0.15),
            baseline=SAFE,
            baseline_name="safekernel, no provisioner",
            notes=[settle],
        ),
    ]


def _prestart_row(
    sides: Sides,
    key: str,
    title: str,
    target: Target,
    *,
    baseline: str,
    baseline_name: str,
    notes: list[str],
) -> RowResult:
    """safekernel with the prestart provisioner against plain safekernel (same run)."""
    return RowResult(
        key=key,
        title=title,
        unit="s",
        target=target,
        baseline_name=baseline_name,
        safekernel=summarize(sides.values(PRESTART)),
        baseline=summarize(sides.values(baseline)),
        errors={
            side if side != PRESTART else SAFE: why
            for side, why in sides.errors.items()
            if side in (PRESTART, baseline)
        },
        notes=notes,
    )


async def _many_pss_mb(bench: Bench, side: str, counts: list[int]) -> float:
    """PSS of the whole process trees of `p12_kernels` kernels running at once, per kernel."""
    kernels: list[RunningKernel] = []
    description = bench.kernels[side]
    try:
        for _ in range(bench.plan.p12_kernels):
            kernels.append(await bench.workspace.start(description, MANY_START_TIMEOUT_S))
            await _trivial_ms(kernels[-1])
        total = 0.0
        processes = 0
        for kernel in kernels:
            memory = tree_memory(await settled_processes(kernel.process))
            total += memory.pss
            processes += memory.processes
        counts.append(processes)
        return total / len(kernels) / MB
    finally:
        await asyncio.gather(*(kernel.shutdown() for kernel in kernels), return_exceptions=True)


async def p12_memory_many(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    sides = Sides(bench, (SAFE, IPY, ILUA))
    present = _peer_kernels(bench, IPY, SAFE, ILUA)
    counts: dict[str, list[int]] = {side: [] for side in present}
    samplers = {side: partial(_many_pss_mb, bench, side, counts[side]) for side in present}
    await sides.interleave(1, samplers)
    n = bench.plan.p12_kernels
    note = f"{n} kernels of a side at once, each after one cell; processes in all trees: "
    note += ", ".join(f"{side} {c}" for side, c in counts.items())
    return [
        _against_ipykernel(
            sides,
            "P12",
            f"{n} kernels at once, PSS per kernel",
            "MB",
            Target("≤ 1.0x ipykernel", max_ratio=1.0),
            notes=[note],
        ),
        _against(
            sides,
            "P12-ilua",
            f"{n} kernels at once, PSS per kernel vs ILua",
            "MB",
            Target("≤ 1.0x ILua", max_ratio=1.0),
            baseline=ILUA,
        ),
    ]


async def p13_python(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    from benchmarks.python_rows import python_rows

    return await python_rows(bench, partial(_tree_mb, unique=False))


async def p14_science(bench: Bench, earlier: Mapping[str, RowResult]) -> list[RowResult]:
    from benchmarks.science_rows import science_rows

    return await science_rows(bench)


Row = Callable[[Bench, Mapping[str, RowResult]], Awaitable[list[RowResult]]]

ROWS: dict[str, Row] = {
    "P1": p1_round_trip,
    "P2": p2_cold_start,
    "P3": p3_after_wall_kill,
    "P4": p4_cell_isolation,
    "P5": p5_cpu_bound,
    "P6": p6_print_rate,
    "P7": p7_interrupt,
    "P8": p8_memory,
    "P9": p9_many_kernels,
    "P10": p10_restart,
    "P11": p11_new_kernel,
    "P12": p12_memory_many,
    "P13": p13_python,
    "P14": p14_science,
}

# P3 and P4 are judged against safekernel's P1 from the same run.
NEEDS: dict[str, tuple[str, ...]] = {"P3": ("P1",), "P4": ("P1",)}
