"""How much to measure: repetitions of a quick (CI) and a full run, and the options of a run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    mode: str
    warmup_cells: int
    """Unmeasured trivial cells before P1/P4 sampling (first-cell costs belong to P2)."""
    p1_cells: int
    p2_launches: int
    p3_kills: int
    p4_cells: int
    p5_runs: int
    p6_runs: int
    p6_bytes: int
    p7_interrupts: int
    p8_runs: int
    p9_kernels: int
    p9_cells: int
    p10_restarts: int
    p12_kernels: int
    p13_workers: int
    """P13-ready: workers forked per runtime, one after the other."""


FULL = Plan(
    mode="full",
    warmup_cells=10,
    p1_cells=500,
    p2_launches=10,
    p3_kills=20,
    p4_cells=200,
    p5_runs=20,
    p6_runs=5,
    p6_bytes=10_000_000,
    p7_interrupts=20,
    p8_runs=3,
    p9_kernels=20,
    p9_cells=100,
    p10_restarts=10,
    p12_kernels=8,
    p13_workers=50,
)

# CI mode: the whole run, every side, stays within a few minutes on a 2-core machine.
QUICK = Plan(
    mode="quick",
    warmup_cells=5,
    p1_cells=50,
    p2_launches=3,
    p3_kills=3,
    p4_cells=30,
    p5_runs=10,
    p6_runs=2,
    p6_bytes=10_000_000,
    p7_interrupts=5,
    p8_runs=1,
    p9_kernels=5,
    p9_cells=20,
    p10_restarts=3,
    p12_kernels=3,
    p13_workers=10,
)


@dataclass(frozen=True)
class Options:
    plan: Plan
    rows: tuple[str, ...]
    json_path: str | None
    allow_missing: bool
    safekernel_options: tuple[str, ...]
    verbose: bool
