"""What the harness knows about each kernel: how to launch it, and the code of each benchmark cell.

A kernel plugs in by its launch module, its options and a few per-language snippets, the way
jupyter_kernel_test's `code_*` class attributes describe a kernel. Nothing else in the harness
knows which language a kernel speaks.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path

# P3: the wall-clock limit, in seconds, that the killed cell sets with safekernel's `%timeout`.
WALL_LIMIT_S = 0.2
MIB = 1024 * 1024
# The kernelspec safekernel installs (install.py copies it): it decides how users interrupt it.
SAFEKERNEL_SPEC = (
    Path(__file__).resolve().parent.parent / "safekernel/resources/kernelspec/kernel.json"
)

LUA_FIB_30 = (
    "local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end\n"
    "local r = fib(30)"
)


@dataclass(frozen=True)
class Snippets:
    """The cells one language needs for the benchmark rows."""

    trivial: str
    """P1, P2, P4, P9: a cell with no output; it must succeed."""
    busy_loop: str
    """P7: a loop that never ends on its own."""
    print_lines: str
    """P6: template printing `{count}` lines of `{width}` characters, each with its newline;
    `{output_mib}` is the output in MiB, rounded up, for a kernel that caps a cell's output."""
    killed_by_timeout: str | None = None
    """P3: a cell that the kernel's own wall-clock limit (WALL_LIMIT_S) must stop."""
    cpu_bound: str | None = None
    """P5: CPU-bound code; the raw-runtime reference executes the same text."""

    def print_cell(self, count: int, width: int) -> str:
        output_mib = math.ceil(count * (width + 1) / MIB)
        return self.print_lines.format(count=count, width=width, output_mib=output_mib)


@dataclass(frozen=True)
class KernelDescription:
    """A kernel launched as `python -m <module> -f {connection_file} <options...>`."""

    name: str
    """Side label in the report: "ipykernel" or "safekernel"."""
    display_name: str
    language: str
    module: str
    snippets: Snippets
    options: tuple[str, ...] = ()
    interrupt_mode: str = "signal"
    """"signal": jupyter_client sends SIGINT to the kernel's whole process group;
    "message": it sends an interrupt_request on the control channel."""

    def argv(self) -> list[str]:
        # sys.executable, not "python": the kernel must run in the harness's own environment.
        return [sys.executable, "-m", self.module, "-f", "{connection_file}", *self.options]

    def with_options(self, *options: str) -> KernelDescription:
        return replace(self, options=(*self.options, *options))

    def kernel_json(self) -> dict[str, object]:
        """The kernelspec this launch uses, written to a temporary kernelspec directory."""
        return {
            "argv": self.argv(),
            "display_name": self.display_name,
            "language": self.language,
            "interrupt_mode": self.interrupt_mode,
            "metadata": {},
        }


PYTHON = Snippets(
    trivial="a = 1",
    busy_loop="while True:\n    pass",
    print_lines='line = "x" * {width}\nfor i in range({count}):\n    print(line)',
)

LUA = Snippets(
    trivial="a = 1",
    busy_loop="while true do end",
    # safekernel stops a cell after 1 MiB of output unless the cell raises its cap with %output.
    print_lines=(
        "%output {output_mib}M\n"
        'local line = string.rep("x", {width})\nfor i = 1, {count} do print(line) end'
    ),
    killed_by_timeout=f"%timeout {WALL_LIMIT_S}\nwhile true do end",
    cpu_bound=LUA_FIB_30,
)

IPYKERNEL = KernelDescription(
    name="ipykernel",
    display_name="Python 3 (ipykernel, benchmark)",
    language="python",
    module="ipykernel_launcher",
    snippets=PYTHON,
)


def declared_interrupt_mode(spec_path: Path) -> str:
    """The interrupt_mode a kernelspec declares ("signal" when absent, as in jupyter_client)."""
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError):
        return "signal"
    return str(spec.get("interrupt_mode", "signal"))


SAFEKERNEL = KernelDescription(
    name="safekernel",
    display_name="Lua (safekernel, benchmark)",
    language="lua",
    module="safekernel",
    snippets=LUA,
    interrupt_mode=declared_interrupt_mode(SAFEKERNEL_SPEC),
)
