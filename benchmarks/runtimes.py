"""The runtimes side by side: `python -m benchmarks.runtimes [--rounds N]`.

Rows (medians of interleaved rounds, so load on the machine falls on all alike):
  round trip    a trivial cell through a real kernel (`safe`, `safe-wasm`, `safe-python`),
                execute to idle
  fib(30)       a recursive Lua fib(30) cell through the Lua kernels, wall time
  fib(25)       a recursive Python fib(25) cell through `safe-python` (limits on: the kernel's
                defaults), against the same function run natively in this process
  worker ready  a worker forked by the kernel's own zygote until it says `ready`, every sandbox
                layer applied (python: forked from the zygote's started interpreter; the
                same measurement as `python -m benchmarks` row P13-ready)
Reported, never asserted (see README.md: timings do not decide the exit status). Needs the
kernelspecs installed (`python -m safekernel install --user [--runtime wasm|python]`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

KERNELS = {"lua": "safe", "wasm": "safe-wasm", "python": "safe-python"}
LUA_RUNTIMES = ("lua", "wasm")
FIB = "local function f(n) if n < 2 then return n end return f(n - 1) + f(n - 2) end\nreturn f(30)"
PY_FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nfib(25)"
#: a trivial first cell in each runtime's language
TRIVIAL = {"lua": "return 1", "wasm": "return 1", "python": "1"}


def _native_fib() -> None:
    exec(PY_FIB, {})


def _run(client: BlockingKernelClient, code: str) -> None:
    msg_id = client.execute(code)
    while True:
        message = client.get_iopub_msg(timeout=120)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    client.get_shell_msg(timeout=120)


def _interleaved(rounds: int, steps: dict[str, Callable[[], None]]) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def kernel_rows(rounds: int) -> dict[str, dict[str, float]]:
    started: dict[str, tuple[KernelManager, BlockingKernelClient]] = {}
    try:
        for runtime, spec in KERNELS.items():
            started[runtime] = start_new_kernel(kernel_name=spec)
        for _, client in started.values():
            for _ in range(10):
                _run(client, "1")

        def cell(code: str, *names: str) -> dict[str, Callable[[], None]]:
            return {
                name: (lambda c=client: _run(c, code))
                for name, (_, client) in started.items()
                if name in names
            }

        fib25 = {**cell(PY_FIB, "python"), "native": _native_fib}
        return {
            "round trip": _interleaved(rounds * 10, cell("1", *KERNELS)),
            "fib(30)": _interleaved(max(3, rounds // 4), cell(FIB, *LUA_RUNTIMES)),
            "fib(25)": _interleaved(max(3, rounds // 2), fib25),
        }
    finally:
        for manager, client in started.values():
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def worker_ready(rounds: int) -> dict[str, float]:
    from benchmarks.python_rows import ready_ms

    cpu: list[float] = []
    return {name: asyncio.run(ready_ms(name, rounds * 2, cpu)) / 1000 for name in KERNELS}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runtimes")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rows = kernel_rows(args.rounds)
    rows["worker ready"] = worker_ready(args.rounds)
    columns = [*KERNELS, "native"]
    header = "".join(f"{name:>12}" for name in columns)
    print(f"{'row':<14}{header}   ratios   (load {os.getloadavg()[0]:.1f})")
    for row, values in rows.items():
        cells = "".join(
            f"{values[name] * 1000:>10.2f}ms" if name in values else f"{'-':>12}"
            for name in columns
        )
        base = "native" if "native" in values else "lua"
        ratios = ", ".join(
            f"{name}/{base} {values[name] / values[base]:.2f}"
            for name in values
            if name not in (base, "native")
        )
        print(f"{row:<14}{cells}   {ratios}")


if __name__ == "__main__":
    main()
