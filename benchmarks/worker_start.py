"""What a worker's start costs, measured on the real zygote: `python -m benchmarks.worker_start`.

Forks N workers one after the other through the kernel's own ZygoteProcess, waits for each
one's `ready` (every sandbox layer applied), reads its CPU time from fork to ready from
/proc/<pid>/schedstat (nanoseconds on CPU), and kills it. Prints medians and tails of that
CPU, of the zygote's CPU per spawn, and of the wall time from request to ready. CPU time is
what a refill takes from a cell on a busy machine; wall time depends on the load. Nothing is
asserted: this is a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics

from safekernel.kernel.pool import WorkerHandle
from safekernel.kernel.zygote import ZygoteProcess
from safekernel.runtimes import registry
from safekernel.wire.confinement import SandboxConfig

MEMORY = 256 * 1024 * 1024
WARMUP = 5


def _cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e6


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    tenth = len(ordered) // 10
    return (
        f"median {statistics.median(ordered):6.2f}  p10 {ordered[tenth]:6.2f}  "
        f"p90 {ordered[-tenth - 1]:6.2f}"
    )


async def measure(count: int, runtime: str) -> None:
    entry = registry.get(runtime)
    config = SandboxConfig(
        address_space=MEMORY + entry.address_space_headroom,
        extra_syscalls=tuple(entry.extra_syscalls),
    )
    zygote = ZygoteProcess(entry.name, logging.getLogger("worker_start"))
    worker_cpu, zygote_cpu, wall = [], [], []
    loop = asyncio.get_running_loop()
    try:
        for i in range(count + WARMUP):
            zygote_before, started = _cpu_ms(zygote.pid), loop.time()
            pid, pidfd, channel = await zygote.spawn(config, MEMORY)
            worker = WorkerHandle(pid=pid, pidfd=pidfd, channel=channel)
            await worker.wait_ready()
            elapsed = (loop.time() - started) * 1e3
            cpu = _cpu_ms(pid)
            zygote_after = _cpu_ms(zygote.pid)
            worker.kill()
            if i >= WARMUP:
                worker_cpu.append(cpu)
                zygote_cpu.append(zygote_after - zygote_before)
                wall.append(elapsed)
            await asyncio.sleep(0.01)  # let the zygote reap, as between cells
    finally:
        zygote.close()
    print(f"{count} workers of runtime {runtime}, ms:")
    print(f"  worker CPU, fork to ready   {_summary(worker_cpu)}")
    print(f"  zygote CPU per spawn        {_summary(zygote_cpu)}")
    print(f"  wall, request to ready      {_summary(wall)}")
    for layer in worker.layers:
        print(f"    {layer.name:<13}{layer.state.value:<12}{layer.detail}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker_start")
    parser.add_argument("-n", type=int, default=200, help="workers to measure (default 200)")
    parser.add_argument("--runtime", default=registry.DEFAULT_RUNTIME)
    args = parser.parse_args()
    asyncio.run(measure(max(args.n, 10), args.runtime))


if __name__ == "__main__":
    main()
