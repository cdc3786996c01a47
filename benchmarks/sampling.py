"""How a row samples: the run's kernels, and per-side samples taken in alternation, so that drift
in the machine's load hits both sides alike; a side that fails is reported, not fatal."""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial

from benchmarks.client import BenchmarkError, RunningKernel, Workspace, describe_error
from benchmarks.kernels import KernelDescription
from benchmarks.plan import Plan

IPY, SAFE, REFERENCE = "ipykernel", "safekernel", "reference"
# Reference peers: reported as missing when not installed, never failing the run (README).
ILUA, BWRAP = "ilua", "bwrap"
# safekernel launched with its prestart provisioner (P10-prestart, P11-prestart)
PRESTART = "safekernel-prestart"
# safekernel's python runtime, the `safe-python` kernel (P13)
PYSAFE = "safe-python"
# the python-science runtime, the `safe-python-science` kernel (P14; the `science` extra)
SCIENCE = "safe-python-science"
# ipykernel's Kernel base class with an empty do_execute: the floor of P1 (P1-floor)
FLOOR = "ipykernel-base"
UNAVAILABLE = "could not be started at the beginning of the run"

Sampler = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class Bench:
    workspace: Workspace
    plan: Plan
    kernels: Mapping[str, KernelDescription]
    """Side name ("ipykernel", "safekernel") → how to launch it with default options."""
    unavailable: Mapping[str, str]
    """Side name → why it cannot be measured in this run."""
    verbose: bool = False


class Sides:
    """Samples and errors of one row. A side that fails once is not sampled again."""

    def __init__(self, bench: Bench, names: tuple[str, ...]) -> None:
        self.bench = bench
        self.samples: dict[str, list[float]] = {name: [] for name in names}
        self.notes: list[str] = []
        self.errors = {name: UNAVAILABLE for name in names if name in bench.unavailable}

    def fail(self, name: str, exc: BaseException) -> None:
        self.errors[name] = describe_error(exc)
        if self.bench.verbose and not isinstance(exc, BenchmarkError):
            traceback.print_exception(exc)

    async def interleave(
        self,
        repetitions: int,
        samplers: Mapping[str, Sampler],
        *,
        record: bool = True,
        give_up_above: float | None = None,
    ) -> None:
        """Take `repetitions` samples of each side, alternating sides. A side whose sample exceeds
        `give_up_above` is not sampled again in this call."""
        stopped: set[str] = set()
        for _ in range(repetitions):
            for name, sampler in samplers.items():
                if name in self.errors or name in stopped:
                    continue
                try:
                    value = await sampler()
                except Exception as exc:
                    self.fail(name, exc)
                    continue
                if record:
                    self.samples[name].append(value)
                if give_up_above is not None and value > give_up_above:
                    stopped.add(name)
                    self.notes.append(
                        f"{name} sampled {len(self.samples[name])} time(s) only: {value:,.0f} is "
                        f"over {give_up_above:,.0f}, a clear miss"
                    )

    @asynccontextmanager
    async def running(
        self, kernels: Mapping[str, KernelDescription]
    ) -> AsyncIterator[dict[str, RunningKernel]]:
        """Started kernels for the sides that can run; the others get an error."""
        async with AsyncExitStack() as stack:
            started: dict[str, RunningKernel] = {}
            for name, description in kernels.items():
                if name in self.errors:
                    continue
                try:
                    started[name] = await stack.enter_async_context(
                        self.bench.workspace.kernel(description)
                    )
                except Exception as exc:
                    self.fail(name, exc)
            yield started

    def values(self, name: str) -> list[float]:
        return [] if name in self.errors else self.samples[name]


def samplers_for(
    kernels: Mapping[str, RunningKernel], measure: Callable[[RunningKernel], Awaitable[float]]
) -> dict[str, Sampler]:
    return {name: partial(measure, kernel) for name, kernel in kernels.items()}
