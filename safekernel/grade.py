"""`safekernel grade`: run many notebooks (a class's submissions) headless through the real
kernel, each in its own kernel process, and write each executed notebook and one summary (JSON
and CSV) with every cell's verdict, error and usage.

    safekernel grade submissions/ -o graded/ --timeout 10 --memory 256M -j 4

A submission that loops, floods, eats memory or crashes its worker loses only its own cells:
the kernel's limits stop them and the next cell runs. The summary reads each cell's verdict
from the kernel's execute_reply metadata (see kernel/verdict.py), never from error text. Exit
status: 0 if every notebook ran to its end (cells may have failed), 1 if one could not be run
(unreadable, for another kernel, its kernel died), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from safekernel.errors import ConfigError
from safekernel.limits import parse_size

#: nbclient waits this long past the kernel's own per-cell limit before it gives up on a cell
#: (the kernel ends a runaway cell itself; this only catches a kernel that stopped answering)
CLIENT_MARGIN_S = 30.0
KERNEL_NAME = "safekernel-grade"
SUMMARY_FIELDS = (
    "notebook",
    "status",
    "cell",
    "cell_id",
    "execution_count",
    "verdict",
    "state",
    "ename",
    "evalue",
    "wall_s",
    "cpu_s",
    "peak_memory_bytes",
    "warning",
    "message",
)


@dataclass
class NotebookResult:
    path: str
    output: str = ""
    #: ran | unreadable | wrong-kernel | failed
    status: str = "ran"
    message: str = ""
    cells: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "notebook": self.path,
            "output": self.output,
            "status": self.status,
            "message": self.message,
            "cells": self.cells,
        }


@dataclass(frozen=True)
class Settings:
    outdir: Path
    #: kernel options baked into the grading kernelspec
    options: list[str]
    #: the kernel's per-cell limit, seconds
    timeout: float
    jobs: int


class UsageError(Exception):
    """Bad arguments: said in one line, exit status 2."""


def find_notebooks(paths: list[str]) -> list[tuple[Path, str]]:
    """Every notebook named or found below a named directory, with the relative name its
    executed copy gets in the output directory."""
    found: list[tuple[Path, str]] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            below = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            found += [(p, str(p.relative_to(path))) for p in below]
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise UsageError(f"no such file or directory: {name}")
    if not found:
        raise UsageError("no notebooks found (give .ipynb files or directories holding them)")
    names = [relative for _, relative in found]
    if len(set(names)) != len(names):
        # the same name from two places: keep enough of each path to tell them apart
        found = [(p, str(p.resolve()).lstrip(os.sep)) for p, _ in found]
    return found


def kernel_options(args: argparse.Namespace) -> list[str]:
    return [
        f"--SafeKernel.timeout={args.timeout:g}",
        f"--SafeKernel.memory_limit={args.memory}",
        f"--SafeKernel.isolation={args.isolation}",
        f"--SafeKernel.replay_on_reset={args.replay}",
    ]


def cell_record(index: int, cell: Any, reply: dict[str, Any]) -> dict[str, Any]:
    content = reply.get("content", {})
    metadata = reply.get("metadata", {})
    usage = metadata.get("usage") or {}
    return {
        "cell": index,
        "cell_id": cell.get("id", ""),
        "execution_count": content.get("execution_count"),
        "verdict": metadata.get("verdict", "ok" if content.get("status") == "ok" else "error"),
        "state": metadata.get("state", ""),
        "ename": content.get("ename", ""),
        "evalue": content.get("evalue", ""),
        "usage": usage,
        "warning": metadata.get("warning", ""),
    }


def _language(nb: Any) -> str:
    metadata = nb.get("metadata", {})
    language = metadata.get("kernelspec", {}).get("language") or metadata.get(
        "language_info", {}
    ).get("name")
    return str(language or "lua").lower()


async def run_notebook(
    source: Path, relative: str, number: int, settings: Settings, spec_root: Path
) -> NotebookResult:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    result = NotebookResult(str(source))
    try:
        nb = nbformat.read(source, as_version=4)
    except Exception as exc:  # nbformat raises json, validation and OS errors alike
        result.status = "unreadable"
        result.message = f"not a readable notebook: {type(exc).__name__}: {str(exc)[:300]}"
        return result
    language = _language(nb)
    if language != "lua":
        result.status = "wrong-kernel"
        result.message = f"this notebook is for {language}, not Lua"
        return result
    records: dict[int, dict[str, Any]] = {}

    def executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        records[cell_index] = cell_record(cell_index, cell, execute_reply)

    ksm = KernelSpecManager(kernel_dirs=[str(spec_root)])
    # IPC sockets in our private directory: no TCP port another local user could reach
    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=ksm,
        transport="ipc",
        ip=str(spec_root / f"kernel-{number}"),
    )
    client = NotebookClient(
        nb,
        km=km,
        timeout=settings.timeout + CLIENT_MARGIN_S,
        allow_errors=True,
        on_cell_executed=executed,
        resources={"metadata": {"path": str(source.parent)}},
    )
    try:
        await client.async_execute(cleanup_kc=True)
    except Exception as exc:  # a dead kernel, a cell nbclient gave up on, a start failure
        result.status = "failed"
        result.message = f"{type(exc).__name__}: {str(exc)[:300]}"
        if await km.is_alive():
            await km.shutdown_kernel(now=True)
    result.cells = [records[index] for index in sorted(records)]
    target = settings.outdir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    result.output = str(target)
    return result


class Progress:
    """One line on stderr: a bar on a terminal, a line per finished notebook otherwise."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.tty = stream.isatty()

    def finished(self, result: NotebookResult) -> None:
        self.done += 1
        bad = sum(1 for c in result.cells if c["verdict"] != "ok")
        word = result.status if result.status != "ran" else f"{bad} cell(s) not ok"
        if self.tty:
            width = 30
            filled = width * self.done // self.total
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {result.path}: {word}\n")
        self.stream.flush()


async def grade(
    notebooks: list[tuple[Path, str]], settings: Settings, progress: Progress
) -> list[NotebookResult]:
    from safekernel.kernel.install import write_kernelspec
    from safekernel.runtimes import registry

    with tempfile.TemporaryDirectory(prefix="safekernel-grade-") as specs:
        spec_dir = Path(specs) / KERNEL_NAME
        spec_dir.mkdir()
        write_kernelspec(
            spec_dir,
            "Lua (sandboxed, grading)",
            settings.options,
            registry.get(registry.DEFAULT_RUNTIME),
        )
        gate = asyncio.Semaphore(settings.jobs)

        async def one(number: int, source: Path, relative: str) -> NotebookResult:
            async with gate:
                result = await run_notebook(source, relative, number, settings, Path(specs))
            progress.finished(result)
            return result

        runs = (one(n, s, r) for n, (s, r) in enumerate(notebooks))
        return list(await asyncio.gather(*runs))


def write_summary(results: list[NotebookResult], outdir: Path, options: list[str]) -> None:
    summary = {"kernel_options": options, "notebooks": [r.to_json() for r in results]}
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with (outdir / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, SUMMARY_FIELDS)
        writer.writeheader()
        for result in results:
            base = {"notebook": result.path, "status": result.status, "message": result.message}
            if not result.cells:
                writer.writerow(base)
            for cell in result.cells:
                usage = cell["usage"]
                writer.writerow(
                    {
                        **base,
                        **{k: cell[k] for k in SUMMARY_FIELDS if k in cell},
                        **{k: usage.get(k, "") for k in ("wall_s", "cpu_s", "peak_memory_bytes")},
                    }
                )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="safekernel grade",
        description="Run notebooks (or directories of submissions) headless through the "
        "sandboxed Lua kernel; write each executed notebook and a summary.json / summary.csv "
        "with every cell's verdict.",
    )
    p.add_argument("paths", nargs="+", help="notebooks, or directories searched for *.ipynb")
    p.add_argument(
        "-o", "--output", default="graded", help="where executed notebooks and the summary go"
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per cell (default 10)")
    p.add_argument("--memory", default="256M", help="Lua memory per cell (default 256M)")
    p.add_argument(
        "--isolation",
        choices=("session", "cell"),
        default="session",
        help="session: a notebook's cells share variables (default); cell: none are shared",
    )
    p.add_argument(
        "--no-replay",
        dest="replay",
        action="store_false",
        help="do not restore a notebook's variables after a hard kill (replay is on by "
        "default, so one stuck cell does not fail the questions after it)",
    )
    p.add_argument("-j", "--jobs", type=int, default=1, help="notebooks run in parallel")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not 0 < args.timeout <= 24 * 3600:
            raise UsageError("--timeout must be between 0 and 86400 seconds")
        try:
            parse_size(args.memory)
        except ConfigError as exc:
            raise UsageError(f"--memory: {exc}") from None
        if args.jobs < 1:
            raise UsageError("-j must be at least 1")
        notebooks = find_notebooks(args.paths)
        outdir = Path(args.output)
        outdir.mkdir(parents=True, exist_ok=True)
    except (UsageError, OSError) as exc:
        print(f"safekernel grade: {exc}", file=sys.stderr)
        return 2
    settings = Settings(outdir, kernel_options(args), args.timeout, args.jobs)
    progress = Progress(len(notebooks), sys.stderr)
    results = asyncio.run(grade(notebooks, settings, progress))
    write_summary(results, outdir, settings.options)
    failed = [r for r in results if r.status != "ran"]
    for result in failed:
        print(f"safekernel grade: {result.path}: {result.message}", file=sys.stderr)
    cells = sum(len(r.cells) for r in results)
    not_ok = sum(1 for r in results for c in r.cells if c["verdict"] != "ok")
    print(
        f"{len(results) - len(failed)} of {len(results)} notebook(s) ran; {cells} cell(s), "
        f"{not_ok} not ok; summary in {outdir / 'summary.json'} and {outdir / 'summary.csv'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
