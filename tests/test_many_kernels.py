"""Many kernels on one small machine: 20 kernels, each running 50 cells, all at once, with 10%
of the cells hitting a limit. Every cell must get its right answer or its right error, with
its output complete and in order, and nothing may be left running afterwards."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import AsyncKernelManager

from tests.conftest import KERNEL_NAME, leftovers, snapshot

KERNELS = 20
CELLS = 50
#: every tenth cell hits a limit: busy loops and memory bombs keep the state; the last one is
#: stuck inside C, so its worker is replaced and the state starts again from nothing (unless
#: the soft stop caught it before it entered C, which its error message then says)
LIMIT_CELLS = {
    7: ("%timeout 0.2\nwhile true do end", "TimeLimitExceeded"),
    17: ("%memory 16M\nlocal t = {} for i = 1, 1e8 do t[i] = i end", "MemoryError"),
    27: (
        "%timeout 0.2\nwhile true do pcall(function() while true do end end) end",
        "TimeLimitExceeded",
    ),
    37: ("%memory 16M\nlocal s = 'x' while true do s = s .. s end", "MemoryError"),
    47: ("%timeout 0.2\nstring.rep('a', 3e6):find('.-.-.-.-b')", "TimeLimitExceeded"),
}
STATE_LOST_AFTER = 47


@dataclass
class Cell:
    code: str
    status: str = ""
    ename: str = ""
    stdout: str = ""
    result: str | None = None
    evalue: str = ""


def normal_cell(kernel: int, index: int) -> str:
    # state (acc), output order (three lines) and a result, all checkable
    return (
        f"acc = (acc or 0) + {index}\n"
        f"print('k{kernel} c{index} a')\n"
        f"for i = 1, 3 do io_line = i end\n"
        f"print('k{kernel} c{index} b')\n"
        f"print('k{kernel} c{index} c')\n"
        "acc"
    )


async def run_cell(client: Any, code: str) -> Cell:
    cell = Cell(code)

    def keep(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            cell.stdout += content["text"]
        elif kind == "execute_result":
            cell.result = content["data"]["text/plain"]
        elif kind == "error":
            cell.ename, cell.evalue = content["ename"], content["evalue"]

    reply = await client.execute_interactive(code, output_hook=keep, timeout=120)
    cell.status = reply["content"]["status"]
    return cell


async def drive_kernel(number: int, managers: list[AsyncKernelManager], ipc_dir: Path) -> list[str]:
    """Start one kernel, run its 50 cells, and return every mismatch found."""
    # IPC, not TCP: twenty kernels picking free TCP ports at once (beside other test runs)
    # collide now and then ("Address already in use"), and the kernel dies at start
    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME, transport="ipc", ip=str(ipc_dir / f"k{number}")
    )
    managers.append(km)
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    problems: list[str] = []
    try:
        await client.wait_for_ready(timeout=120)
        acc = 0
        for index in range(CELLS):
            if index in LIMIT_CELLS:
                code, ename = LIMIT_CELLS[index]
                cell = await run_cell(client, code)
                if (cell.status, cell.ename) != ("error", ename):
                    problems.append(f"k{number} c{index}: {cell.status} {cell.ename} {cell.evalue}")
                # on a loaded machine the soft stop can fire before the cell even reaches the
                # C call: then the worker stays and so does the state. The error says which.
                if index == STATE_LOST_AFTER and "variables are gone" in cell.evalue:
                    acc = 0
                elif index == STATE_LOST_AFTER and "variables are kept" not in cell.evalue:
                    problems.append(f"k{number} c{index}: unclear about state: {cell.evalue}")
                continue
            acc += index
            cell = await run_cell(client, normal_cell(number, index))
            expected_out = "".join(f"k{number} c{index} {line}\n" for line in "abc")
            if cell.status != "ok" or cell.result != str(acc) or cell.stdout != expected_out:
                problems.append(
                    f"k{number} c{index}: {cell.status} result={cell.result!r} (want {acc}) "
                    f"stdout={cell.stdout!r} {cell.ename} {cell.evalue}"
                )
    finally:
        client.stop_channels()
    return problems


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_twenty_kernels_fifty_cells_each_with_limits_all_correct_and_nothing_left(
    tmp_path: Path,
) -> None:
    managers: list[AsyncKernelManager] = []

    async def main() -> list[list[str]]:
        try:
            return list(
                await asyncio.gather(*(drive_kernel(n, managers, tmp_path) for n in range(KERNELS)))
            )
        finally:
            snapshots.extend(
                snapshot(km.provisioner.process.pid)  # type: ignore[union-attr]
                for km in managers
                if km.has_kernel
            )
            await asyncio.gather(
                *(km.shutdown_kernel(now=False) for km in managers if km.has_kernel),
                return_exceptions=True,
            )

    snapshots: list[tuple[list[psutil.Process], set[int]]] = []
    started = time.monotonic()
    problems = [p for kernel in asyncio.run(main()) for p in kernel]
    elapsed = time.monotonic() - started
    print(f"\n{KERNELS} kernels x {CELLS} cells: {elapsed:.1f} s")
    assert problems == []
    assert len(snapshots) == KERNELS
    processes = [p for tree, _ in snapshots for p in tree]
    sessions = {s for _, zygote_sessions in snapshots for s in zygote_sessions}
    assert len(processes) >= 3 * KERNELS  # kernel, zygote and at least one worker each
    assert leftovers(processes, sessions) == []
