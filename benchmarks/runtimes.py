"""The two Lua runtimes side by side: `python -m benchmarks.runtimes [--rounds N]`.

Rows (medians of interleaved rounds, so load on the machine falls on both alike):
  round trip    a trivial cell through a real kernel (`safe` vs `safe-wasm`), execute to idle
  fib(30)       a recursive Lua fib(30) cell through the same kernels, wall time
  worker ready  in-process: fork a copy of a prepared runtime, make it the worker's own
                (after_fork) and run its first cell, as a pooled worker does after a claim
Reported, never asserted (see README.md: timings do not decide the exit status). Needs both
kernelspecs installed (`python -m safekernel install --user [--runtime wasm]`).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

KERNELS = {"lua": "safe", "wasm": "safe-wasm"}
FIB = "local function f(n) if n < 2 then return n end return f(n - 1) + f(n - 2) end\nreturn f(30)"


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

        def cell(code: str) -> dict[str, Callable[[], None]]:
            return {name: (lambda c=client: _run(c, code)) for name, (_, client) in started.items()}

        return {
            "round trip": _interleaved(rounds * 10, cell("1")),
            "fib(30)": _interleaved(max(3, rounds // 4), cell(FIB)),
        }
    finally:
        for manager, client in started.values():
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def worker_ready(rounds: int) -> dict[str, float]:
    from safekernel.limits import Limits
    from safekernel.runtimes import create_runtime

    class Sink:
        def stream(self, name: str, text: str) -> None: ...

    runtimes = {name: create_runtime(name, 256 * 1024 * 1024) for name in KERNELS}
    gc.collect()
    gc.freeze()

    def fork_one(runtime_name: str) -> Callable[[], None]:
        def step() -> None:
            pid = os.fork()
            if pid == 0:
                runtime = runtimes[runtime_name]
                runtime.after_fork(os.urandom(16))
                runtime.execute("return 1", Limits(), Sink())  # type: ignore[arg-type]
                os._exit(0)
            os.waitpid(pid, 0)

        return step

    return _interleaved(rounds * 2, {name: fork_one(name) for name in runtimes})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runtimes")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rows = kernel_rows(args.rounds)
    rows["worker ready"] = worker_ready(args.rounds)
    print(f"{'row':<14}{'lua':>12}{'wasm':>12}{'wasm/lua':>10}   (load {os.getloadavg()[0]:.1f})")
    for row, values in rows.items():
        lua, wasm = values["lua"] * 1000, values["wasm"] * 1000
        print(f"{row:<14}{lua:>10.2f}ms{wasm:>10.2f}ms{wasm / lua:>10.2f}")


if __name__ == "__main__":
    main()
