"""P14, the `safe-python-science` kernel (CPython 3.15 with numpy, pandas, matplotlib) in the
same run as the rest:

  P14-fib      a recursive fib(25) cell through the kernel (its default limits on) against the
               same function run natively in the harness's own CPython, alternated
  P14-import   a fresh worker's first cell importing numpy, pandas and pyplot (`%isolate`;
               its round trip, claim included: the zygote has imported them already) against
               what the zygote paid once to pre-import them (an in-process template built
               as the zygote builds it)
  P14-first    the round trip of a first numpy cell in a fresh worker (`%isolate`)

A missing guest (`pip install 'safekernel[science]'`) leaves these rows without a number,
reported as missing; it never fails the run.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from benchmarks.client import RunningKernel
from benchmarks.report import RowResult, Target
from benchmarks.sampling import SCIENCE, Bench, Sides, samplers_for
from benchmarks.stats import summarize

NATIVE = "native CPython"
ZYGOTE = "the zygote, once"
FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)"
IMPORT_CELL = "%isolate\nimport numpy, pandas, matplotlib.pyplot"
FIRST_CELL = "%isolate\nimport numpy as np\nint(np.arange(10).sum())"


async def _cell_ms(code: str, kernel: RunningKernel) -> float:
    outcome = await kernel.execute(code)
    return outcome.require_ok(code.splitlines()[-1]).elapsed * 1000


def _fib(n: int) -> int:
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


async def _native_ms() -> float:
    started = time.perf_counter()
    _fib(25)
    return (time.perf_counter() - started) * 1000


def _template_ms() -> float:
    from safekernel.runtimes import create_runtime, registry

    registry.get("python-science").prewarm()  # the compiled guest: the install's share
    started = time.perf_counter()
    create_runtime("python-science", 256 * 1024 * 1024)
    return (time.perf_counter() - started) * 1000


async def _zygote_ms() -> float:
    return await asyncio.get_running_loop().run_in_executor(None, _template_ms)


async def science_rows(bench: Bench) -> list[RowResult]:
    plan = bench.plan
    kernels = {SCIENCE: bench.kernels[SCIENCE]}
    fib = Sides(bench, (SCIENCE, NATIVE))
    imports = Sides(bench, (SCIENCE, ZYGOTE))
    first = Sides(bench, (SCIENCE,))
    if SCIENCE in bench.unavailable:
        imports.errors[ZYGOTE] = bench.unavailable[SCIENCE]
        fib.errors[NATIVE] = bench.unavailable[SCIENCE]
    async with fib.running(kernels) as running:
        if SCIENCE in running:
            (await running[SCIENCE].execute(FIB)).require_ok("def fib")
        samplers = samplers_for(running, partial(_cell_ms, "fib(25)"))
        if SCIENCE not in running:
            fib.errors.setdefault(NATIVE, "the science kernel is not running")
        await fib.interleave(2, {**samplers, NATIVE: _native_ms}, record=False)
        await fib.interleave(plan.p5_runs, {**samplers, NATIVE: _native_ms})
        repetitions = max(3, plan.p2_launches)
        await imports.interleave(repetitions, samplers_for(running, partial(_cell_ms, IMPORT_CELL)))
        await first.interleave(repetitions, samplers_for(running, partial(_cell_ms, FIRST_CELL)))
    if SCIENCE not in imports.errors:
        await imports.interleave(1, {ZYGOTE: _zygote_ms})
    return [
        RowResult(
            key="P14-fib",
            title="safe-python-science fib(25) cell vs native CPython (limits on)",
            unit="ms",
            target=Target("≤ 2.5x native", max_ratio=2.5),
            baseline_name=NATIVE,
            safekernel=summarize(fib.values(SCIENCE)),
            baseline=summarize(fib.values(NATIVE)),
            errors=dict(fib.errors),
            notes=["the native side is the harness's own interpreter, in the same alternation"],
        ),
        RowResult(
            key="P14-import",
            title="import numpy/pandas/pyplot in a fresh worker vs the zygote's one-time cost",
            unit="ms",
            target=Target("paid once per zygote, not per cell (reported)"),
            baseline_name=ZYGOTE,
            safekernel=summarize(imports.values(SCIENCE)),
            baseline=summarize(imports.values(ZYGOTE)),
            errors=dict(imports.errors),
            notes=[
                "cell: the round trip of the first cell after %isolate, worker claim included; "
                "zygote: the template's build (instantiate, driver, numpy + pandas + "
                "matplotlib), once per kernel"
            ],
        ),
        RowResult(
            key="P14-first",
            title="safe-python-science first numpy cell in a fresh worker (%isolate)",
            unit="ms",
            target=Target("none (a pooled worker; reported)"),
            baseline_name="",
            safekernel=summarize(first.values(SCIENCE)),
            baseline=None,
            errors=dict(first.errors),
        ),
    ]
