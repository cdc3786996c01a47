"""A kernel's processes: find them all, measure their memory, make sure none outlives the run."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from time import perf_counter
from types import TracebackType

import psutil

# How long the processes of a kernel that was asked to shut down may take to exit before SIGKILL.
EXIT_GRACE_S = 3.0


def kernel_processes(kernel: psutil.Process) -> list[psutil.Process]:
    """The kernel and every process it started that is still running.

    Descendants by parent link, plus every process in the kernel's session: jupyter_client starts
    each kernel as a session leader (start_new_session), so a worker that was re-parented by a
    double fork is still found. The creation-time check keeps a recycled pid out.
    """
    found: dict[int, psutil.Process] = {}
    if _running(kernel):
        found[kernel.pid] = kernel
        with suppress(psutil.Error):
            found.update((child.pid, child) for child in kernel.children(recursive=True))
    born = kernel.create_time()
    for proc in psutil.process_iter():
        if proc.pid in found:
            continue
        with suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == kernel.pid and proc.create_time() >= born:
                found[proc.pid] = proc
    return [proc for proc in found.values() if _running(proc)]


async def settled_processes(
    kernel: psutil.Process, quiet_s: float = 0.5, timeout_s: float = 10.0
) -> list[psutil.Process]:
    """The kernel's processes once their set has not changed for `quiet_s` (a pool refilling)."""
    deadline = perf_counter() + timeout_s
    procs = kernel_processes(kernel)
    stable_since = perf_counter()
    while perf_counter() < deadline:
        await asyncio.sleep(0.1)
        now = kernel_processes(kernel)
        if {p.pid for p in now} != {p.pid for p in procs}:
            procs, stable_since = now, perf_counter()
        elif perf_counter() - stable_since >= quiet_s:
            break
    return procs


@dataclass(frozen=True)
class TreeMemory:
    pss: int
    uss: int
    processes: int


def tree_memory(procs: Iterable[psutil.Process]) -> TreeMemory:
    """Summed PSS and USS (bytes) of the processes; PSS splits shared pages among their users."""
    pss = uss = count = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied as exc:
            raise PermissionError(
                f"cannot read the memory map of pid {proc.pid}: run the benchmark as root or as "
                "the kernel's user"
            ) from exc
        pss, uss, count = pss + info.pss, uss + info.uss, count + 1
    return TreeMemory(pss=pss, uss=uss, processes=count)


async def stop_processes(
    procs: Iterable[psutil.Process], grace_s: float = EXIT_GRACE_S
) -> list[str]:
    """Wait up to `grace_s` for the processes to exit, SIGKILL the rest; describe those killed."""
    procs = list(procs)
    deadline = perf_counter() + grace_s
    while (alive := [p for p in procs if _running(p)]) and perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return kill(alive)


def kill(procs: Iterable[psutil.Process]) -> list[str]:
    procs = [p for p in procs if _running(p)]
    described = [_describe(p) for p in procs]
    for proc in procs:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=EXIT_GRACE_S)
    return described


class Reaper:
    """Last line of defence: on leaving the run, even by Ctrl-C or a crash, kill whatever is left
    of every kernel it started (found by session, so only processes this run started)."""

    def __init__(self) -> None:
        self._kernels: list[psutil.Process] = []

    def watch(self, kernel: psutil.Process) -> None:
        self._kernels.append(kernel)

    def kill_all(self) -> list[str]:
        return kill(proc for kernel in self._kernels for proc in kernel_processes(kernel))

    def __enter__(self) -> Reaper:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for line in self.kill_all():
            print(f"benchmarks: killed a leftover kernel process: {line}", file=sys.stderr)


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _describe(proc: psutil.Process) -> str:
    try:
        command = " ".join(proc.cmdline()) or proc.name()
    except psutil.Error:
        command = "?"
    return f"pid {proc.pid}: {command[:100]}"
