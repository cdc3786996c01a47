"""Accounting: what a cell used, as the worker measured it (checked here, since the worker is
untrusted) and as `%usage` shows it.

    wall_s             wall-clock seconds the cell ran (the kernel's own clock if the worker died)
    cpu_s              CPU seconds of the worker process during the cell (all its threads)
    instructions       Lua VM instructions, counted only under an instruction budget: counting
                       needs a count hook, which makes Lua about 2x slower
    memory_bytes       Lua memory in use when the cell ended
    peak_memory_bytes  Lua memory high-water mark during the cell, sampled every 20 ms by the
                       worker's watchdog and at the end, so a spike shorter than that can be
                       missed (never above the memory limit, which is exact)
"""

from __future__ import annotations

import math
from typing import Any

USAGE_KEYS = ("wall_s", "cpu_s", "instructions", "memory_bytes", "peak_memory_bytes")


def parse_usage(raw: dict[str, Any]) -> dict[str, float]:
    """Keep the known, finite numbers of a worker's usage report."""
    usage: dict[str, float] = {}
    for key in USAGE_KEYS:
        value = raw.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            usage[key] = float(value)
    return usage


def format_usage(usage: dict[str, float]) -> str:
    """`%usage`'s text: one line per measure."""
    if not usage:
        return "No cell has run yet.\n"
    rows = [("wall time", _seconds(usage.get("wall_s")))]
    if "cpu_s" in usage:
        rows.append(("CPU time", _seconds(usage["cpu_s"])))
    instructions = usage.get("instructions")
    if instructions:
        rows.append(("instructions", f"{int(instructions):,}"))
    elif "instructions" in usage:
        rows.append(("instructions", "not counted (set an %instructions budget to count)"))
    if "peak_memory_bytes" in usage:
        rows.append(("peak memory", _bytes(usage["peak_memory_bytes"])))
    if "memory_bytes" in usage:
        rows.append(("memory at end", _bytes(usage["memory_bytes"])))
    if len(rows) == 1:
        rows.append(("", "(the worker ended before it could report more)"))
    return "Last cell:\n" + "".join(f"  {name:<14}{value}\n" for name, value in rows)


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _bytes(value: float) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{int(value)} B"
