"""`python -m benchmarks.soak --minutes N --kernels K`: a soak run.

K real safekernel processes (the installed `safe` kernelspec, over real ZMQ) each run a mixed
workload for N minutes, one client thread per kernel: normal cells, time-limit hits (a loop,
and a call stuck in C, which costs the worker), interrupts, input(), %isolate cells, %reset and
now and then a kernel restart. It reports cells run, failures by kind, p50/p99 latency per kind,
each kernel process's RSS and open descriptors over time (a leak shows as growth between the
first and last quarter of a kernel's life), and processes left behind after shutdown.

Timings are reported, never asserted. The exit status is 1 if any cell failed (a wrong or
missing reply, a hung cell) or any process was left behind: CI runs a short version.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
from jupyter_client.manager import KernelManager, start_new_kernel

#: the client waits this long for one reply before it counts the cell as hung (far above every
#: limit the workload sets plus the kernel's kill grace)
HUNG_S = 60.0
#: a kernel restart every this many cells per kernel, by default (`--restart-every`; 0 = never,
#: which lets one kernel process live the whole run, so its RSS trend covers the whole run)
RESTART_EVERY = 60


@dataclass
class Check:
    kind: str
    code: str
    ok: Any  # (reply content, stdout) -> bool
    interrupt_after: float | None = None
    answer: str | None = None


def _ok_with(text: str) -> Any:
    return lambda content, out: content["status"] == "ok" and text in out


def _error(ename: str) -> Any:
    return lambda content, out: content["status"] == "error" and content.get("ename") == ename


WORKLOAD = [
    Check("normal", "n = (n or 0) + 1\nprint('n=' .. n)", _ok_with("n=")),
    Check("normal", "local t = {} for i = 1, 1e4 do t[i] = i end print(#t)", _ok_with("10000")),
    Check("normal", "print(string.rep('x', 2000))", _ok_with("xxxx")),
    Check("normal", "n = (n or 0) + 1\nprint('n=' .. n)", _ok_with("n=")),
    Check("limit", "%timeout 0.3\nwhile true do end", _error("TimeLimitExceeded")),
    Check(
        "stuck-in-c",
        "%timeout 0.3\nstring.rep('a', 3e6):find('.-.-.-.-b')",
        _error("TimeLimitExceeded"),
    ),
    Check("interrupt", "while true do end", _error("KeyboardInterrupt"), interrupt_after=0.3),
    Check("input", "print('got ' .. input('name? '))", _ok_with("got soak"), answer="soak"),
    Check("isolated", "%isolate\nprint(n == nil)", _ok_with("true")),
    Check("error", "error('soak error')", lambda c, out: c["status"] == "error"),
    Check("reset", "%reset", lambda c, out: c["status"] == "ok"),
]


@dataclass
class KernelStats:
    index: int
    cells: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: (seconds since start, kernel pid, rss bytes, open fds, processes in the kernel's tree)
    samples: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    restarts: int = 0
    leftovers: list[str] = field(default_factory=list)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _pid(km: KernelManager) -> int:
    return int(km.provisioner.process.pid)  # type: ignore[union-attr]


def _run_cell(kc: Any, check: Check) -> tuple[dict[str, Any], str]:
    out: list[str] = []

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    timer = None
    if check.interrupt_after is not None:
        timer = threading.Timer(check.interrupt_after, kc.parent.interrupt_kernel)
        timer.start()

    def answer(msg: dict[str, Any]) -> None:
        kc.input(check.answer or "")

    reply = kc.execute_interactive(
        check.code,
        output_hook=keep,
        timeout=HUNG_S,
        allow_stdin=check.answer is not None,
        stdin_hook=answer,
    )
    if timer is not None:
        timer.join()
    return dict(reply["content"]), "".join(out)


def _soak_one(stats: KernelStats, deadline: float, started: float, restart_every: int) -> None:
    km, kc = start_new_kernel(kernel_name="safe")
    kc.parent = km
    seen: list[psutil.Process] = []
    try:
        done = 0
        while time.monotonic() < deadline:
            check = WORKLOAD[(done + stats.index) % len(WORKLOAD)]
            begin = time.monotonic()
            try:
                content, out = _run_cell(kc, check)
                good = check.ok(content, out)
            except (TimeoutError, RuntimeError) as exc:  # no reply within HUNG_S
                content, out, good = {"status": f"no reply: {exc}"}, "", False
            stats.latencies.setdefault(check.kind, []).append(time.monotonic() - begin)
            stats.cells[check.kind] += 1
            if not good:
                stats.failures[check.kind] += 1
                if len(stats.examples) < 5:
                    stats.examples.append(f"{check.kind}: {str(content)[:200]} {out[:100]!r}")
            done += 1
            pid = _pid(km)
            tree = _tree(pid)
            seen += tree
            try:
                rss, fds = tree[0].memory_info().rss, tree[0].num_fds()
            except (psutil.NoSuchProcess, IndexError):
                rss, fds = 0, 0
            stats.samples.append((time.monotonic() - started, pid, rss, fds, len(tree)))
            if restart_every and done % restart_every == 0:
                km.restart_kernel(now=False)
                kc.wait_for_ready(timeout=HUNG_S)
                stats.restarts += 1
    finally:
        seen += _tree(_pid(km))
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        _, alive = psutil.wait_procs(list({p.pid: p for p in seen}.values()), timeout=10)
        stats.leftovers = [
            f"{p.pid} {p.name()}"
            for p in alive
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _growth(samples: list[tuple[float, int, int, int, int]], column: int) -> dict[str, Any]:
    """First vs last quarter of the longest stretch one kernel process lived (restarts make a
    new process, so each process is judged on its own)."""
    by_pid: dict[int, list[int]] = {}
    for sample in samples:
        by_pid.setdefault(sample[1], []).append(sample[column])
    longest = max(by_pid.values(), key=len, default=[])
    if len(longest) < 8:
        return {"samples": len(longest)}
    quarter = len(longest) // 4
    first, last = statistics.median(longest[:quarter]), statistics.median(longest[-quarter:])
    return {"samples": len(longest), "first_quarter": first, "last_quarter": last}


def report(all_stats: list[KernelStats], minutes: float) -> dict[str, Any]:
    cells: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    for s in all_stats:
        cells += s.cells
        failures += s.failures
        for kind, values in s.latencies.items():
            latencies.setdefault(kind, []).extend(values)
    return {
        "minutes": minutes,
        "kernels": len(all_stats),
        "cells": sum(cells.values()),
        "cells_by_kind": dict(cells),
        "failures_by_kind": dict(failures),
        "failure_examples": [e for s in all_stats for e in s.examples],
        "latency_s": {
            kind: {
                "p50": round(_percentile(v, 0.5), 4),
                "p99": round(_percentile(v, 0.99), 4),
            }
            for kind, v in sorted(latencies.items())
        },
        "restarts": sum(s.restarts for s in all_stats),
        "kernel_rss_bytes": [_growth(s.samples, 2) for s in all_stats],
        "kernel_open_fds": [_growth(s.samples, 3) for s in all_stats],
        "max_processes_per_kernel": max((x[4] for s in all_stats for x in s.samples), default=0),
        "leftover_processes": [p for s in all_stats for p in s.leftovers],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--kernels", type=int, default=2)
    parser.add_argument("--restart-every", type=int, default=RESTART_EVERY, metavar="CELLS")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    all_stats = [KernelStats(i) for i in range(args.kernels)]
    errors: list[BaseException] = []

    def guarded(stats: KernelStats) -> None:
        try:
            _soak_one(stats, deadline, started, args.restart_every)
        except Exception as exc:  # a kernel that would not start or restart: reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(s,)) for s in all_stats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = report(all_stats, args.minutes)
    result["harness_errors"] = [f"{type(e).__name__}: {e}" for e in errors]
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    bad = result["failures_by_kind"] or result["leftover_processes"] or errors
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
