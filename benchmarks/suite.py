"""One benchmark run: probe both kernels, run the chosen rows, print the table, write the JSON,
and decide the exit status (timings never decide it; see README.md, "Exit status")."""

from __future__ import annotations

import asyncio
import compileall
import datetime
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from time import perf_counter
from typing import Any

from benchmarks.client import REPO_ROOT, Workspace, describe_error
from benchmarks.kernels import (
    EMPTY_BASE,
    ILUA,
    IPYKERNEL,
    SAFE_PYTHON,
    SAFE_SCIENCE,
    SAFEKERNEL,
    KernelDescription,
    peer_missing,
)
from benchmarks.plan import Options
from benchmarks.processes import Reaper
from benchmarks.report import RowResult, format_notes, format_table, results_json
from benchmarks.rows import NEEDS, ROWS
from benchmarks.sampling import FLOOR, IPY, PYSAFE, REFERENCE, SAFE, SCIENCE, UNAVAILABLE, Bench
from benchmarks.sampling import ILUA as ILUA_SIDE

EXIT_OK, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 130
# Above this 1-minute load per CPU, other work visibly skews the timings (ipykernel's round trip
# went from 3 to 15-20 ms at a load of 5 on 2 CPUs).
BUSY_LOAD_PER_CPU = 0.5
VERSIONED = ("ipykernel", "jupyter_client", "pyzmq", "lupa", "psutil")


@dataclass
class Run:
    options: Options
    started: str
    kernels: dict[str, str] = field(default_factory=dict)
    """Side → its implementation as its kernel_info reports it."""
    unavailable: dict[str, str] = field(default_factory=dict)
    rows: list[RowResult] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_start: tuple[float, float, float] = field(default_factory=os.getloadavg)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)


def main(options: Options) -> int:
    run = Run(options, started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    start = perf_counter()
    _say(_header(options))
    _compile_safekernel()
    try:
        with Reaper() as reaper:
            asyncio.run(_run_rows(run, reaper))
    except KeyboardInterrupt:
        print("benchmarks: interrupted; every kernel was shut down.", file=sys.stderr)
        return EXIT_INTERRUPTED
    run.seconds = perf_counter() - start
    run.load_end = os.getloadavg()
    print()
    print(format_table(run.rows))
    for side in run.unavailable:
        print(f"\n{side} {UNAVAILABLE}: every {side} number is missing (reason below)")
    notes = format_notes(run.rows, skip_errors=UNAVAILABLE)
    if notes:
        print("\n" + notes)
    if run.retries:
        print("\nkernels replaced once because they were alive but silent at start-up:")
        print("\n".join(f"  {line}" for line in run.retries))
    if run.leftovers:
        print("\nprocesses still alive after their kernel shut down (killed):")
        print("\n".join(f"  {line}" for line in run.leftovers))
    print(f"\ntotal running time {run.seconds:.1f} s ({options.plan.mode} mode)")
    # Other work on the machine skews every row; the load average makes it visible.
    load = f"{run.load_start[0]:.2f} at the start, {run.load_end[0]:.2f} at the end"
    print(f"1-minute load average: {load} (on {os.cpu_count()} CPUs)")
    if max(run.load_start[0], run.load_end[0]) > BUSY_LOAD_PER_CPU * (os.cpu_count() or 1):
        print("WARNING: the machine was busy with other work; take these timings again when idle")
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(results_json(run.rows, _meta(run)), indent=2))
        print(f"wrote {options.json_path}")
    return _exit_status(run)


async def _run_rows(run: Run, reaper: Reaper) -> None:
    options = run.options
    kernels = {
        IPY: IPYKERNEL,
        SAFE: SAFEKERNEL.with_options(*options.safekernel_options),
        ILUA_SIDE: ILUA,
        FLOOR: EMPTY_BASE,
        PYSAFE: SAFE_PYTHON.with_options(*options.safekernel_options),
        SCIENCE: SAFE_SCIENCE.with_options(*options.safekernel_options),
    }
    with tempfile.TemporaryDirectory(prefix="safekernel-bench-") as tmp:
        workspace = Workspace(Path(tmp), reaper)
        try:
            for side, description in kernels.items():
                await _probe(workspace, side, description, run)
            bench = Bench(workspace, options.plan, kernels, run.unavailable, options.verbose)
            done: dict[str, RowResult] = {}
            for key in _with_dependencies(options.rows):
                start = perf_counter()
                _say(f"{key} …", end="")
                results = await ROWS[key](bench, done)
                done |= {row.key: row for row in results}
                _say(f" {perf_counter() - start:.1f} s")
            run.rows = [row for row in done.values() if row.key.split("-")[0] in options.rows]
        finally:
            run.leftovers = workspace.leftovers
            run.retries = workspace.retries
            workspace.close()


async def _probe(workspace: Workspace, side: str, description: KernelDescription, run: Run) -> None:
    """Start the kernel once and run a trivial cell: it tells whether the side can be measured,
    and warms the disk cache so that P2's first launch is not an outlier."""
    _say(f"{side}: starting {' '.join(description.argv()[1:])} …", end="")
    missing = peer_missing(description)
    if missing is not None:
        run.unavailable[side] = missing
        _say(f" MISSING: {missing}")
        return
    try:
        async with workspace.kernel(description) as kernel:
            (await kernel.execute(description.snippets.trivial)).require_ok("trivial cell")
            info = kernel.kernel_info
    except Exception as exc:
        run.unavailable[side] = describe_error(exc)
        _say(f" NOT AVAILABLE: {run.unavailable[side]}")
        return
    implementation = f"{info.get('implementation', '?')} {info.get('implementation_version', '')}"
    run.kernels[side] = implementation.strip()
    _say(f" ok ({run.kernels[side]})")


def _compile_safekernel() -> None:
    """Write safekernel's bytecode, as installing a wheel does. ipykernel is measured as
    installed, with its .pyc files; safekernel runs from the source tree, where a stale or
    missing .pyc (after an edit, or under PYTHONDONTWRITEBYTECODE) has every kernel and zygote
    compile its modules again at start: ~7 ms of the kernel's start alone, measured."""
    compileall.compile_dir(REPO_ROOT / "safekernel", quiet=1)


def _with_dependencies(keys: tuple[str, ...]) -> list[str]:
    wanted = set(keys) | {need for key in keys for need in NEEDS.get(key, ())}
    return [key for key in ROWS if key in wanted]


def _exit_status(run: Run) -> int:
    """Timings never fail a run. It is incomplete when a number is missing: always for the
    ipykernel and reference sides, for safekernel unless --allow-missing."""
    missing_safekernel = [row.key for row in run.rows if SAFE in row.errors]
    missing_other = [
        f"{row.key} {side}: {why}"
        for row in run.rows
        for side, why in row.errors.items()
        if side in (IPY, REFERENCE)
    ]
    if SAFE in run.unavailable:
        print(f"\nsafekernel could not be started: {run.unavailable[SAFE]}")
    status = EXIT_OK
    if missing_other:
        print("\nthe baseline could not be measured; the harness or this machine needs fixing:")
        print("\n".join(f"  {line.splitlines()[0]}" for line in missing_other))
        status = EXIT_INCOMPLETE
    if missing_safekernel and not run.options.allow_missing:
        print(
            f"\n{len(missing_safekernel)} row(s) have no safekernel number; exit status 1. "
            "Pass --allow-missing to report them as missing and exit 0."
        )
        status = EXIT_INCOMPLETE
    return status


def _header(options: Options) -> str:
    plan = options.plan
    lines = [f"safekernel benchmarks, {plan.mode} mode, rows {' '.join(options.rows)}"]
    if plan.mode == "quick":
        lines.append(
            "quick mode: few repetitions; P9 runs "
            f"{plan.p9_kernels} kernels x {plan.p9_cells} cells instead of 20 x 100"
        )
    lines.append(f"{_machine()}; {', '.join(f'{k} {v}' for k, v in _versions().items())}")
    lines.append(f"safekernel from {REPO_ROOT / 'safekernel'} (kernels start in {REPO_ROOT})")
    load = os.getloadavg()[0]
    if load > BUSY_LOAD_PER_CPU * (os.cpu_count() or 1):
        lines.append(f"WARNING: load average {load:.2f}: other work will skew the timings")
    return "\n".join(lines)


def _machine() -> str:
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs, {system}, Python {platform.python_version()}"


def _versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _meta(run: Run) -> dict[str, Any]:
    return {
        "date": run.started,
        "mode": run.options.plan.mode,
        "plan": asdict(run.options.plan),
        "seconds": round(run.seconds, 1),
        "machine": _machine(),
        "versions": _versions(),
        "kernels": run.kernels,
        "unavailable": run.unavailable,
        "safekernel_options": list(run.options.safekernel_options),
        "load_average_1m": {"start": run.load_start[0], "end": run.load_end[0]},
        "leftover_processes": run.leftovers,
        "start_retries": run.retries,
    }


def _say(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)
