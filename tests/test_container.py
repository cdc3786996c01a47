"""The kernel inside a simulated container: the seccomp rules of Docker's default profile for a
process without CAP_SYS_ADMIN (no unshare, setns, mount, namespace flags on clone; clone3 is
ENOSYS), and in a second variant no Landlock either (`tests/container_sim.py`, a launcher named
in the kernelspec's argv, as a container's runtime would wrap the kernel).

The kernel starts; kernel_info and `%sandbox` say exactly which layers are unavailable and why;
a representative part of the attack suite still holds with the layers that remain; and
`require_all_layers` refuses every cell, naming the missing layers. CI runs it as root and, in
`.ci/unprivileged`, as a normal user.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from tests import container_sim
from tests.conftest import Kernel, wait_gone
from tests.test_attacks import (
    Host,
    _settled_tree,
    attack_files,
    make_data_dir,
    parse_attack,
    run_attack,
)

pytestmark = pytest.mark.skipif(
    not container_sim.supported(), reason="SKIPPED LOUDLY: the simulation knows x86_64 and aarch64"
)

SIM = Path(container_sim.__file__).resolve()
VARIANTS = {
    "docker-default": ([], {"network"}),
    "no-landlock": (["--no-landlock"], {"network", "landlock"}),
}
WHY = {
    "network": "cannot create a network namespace here (EPERM): ",
    "landlock": "kernel has no Landlock",
}


def start_contained(variant: str, tmp: Path, *options: str) -> Kernel:
    flags, _ = VARIANTS[variant]
    spec_dir = tmp / "kernels" / "safe-container"
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(SIM), *flags, "--", sys.executable, "-m", "safekernel"]
    spec = {
        "argv": [*argv, "-f", "{connection_file}", *options],
        "display_name": "Lua (sandboxed, in a simulated container)",
        "language": "lua",
        "interrupt_mode": "message",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    km = KernelManager(
        kernel_name="safe-container",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp / "kernels")]),
    )
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return Kernel(km, kc)


def _stop(kernel: Kernel) -> None:
    procs = kernel.tree()
    kernel.shutdown()
    assert wait_gone(procs) == []


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def contained(request: pytest.FixtureRequest) -> Iterator[tuple[str, Host]]:
    variant = request.param
    root = Path(tempfile.mkdtemp(prefix="safekernel-container-"))
    root.chmod(0o777)
    sentinel = root / "sentinel.txt"
    sentinel.write_text("untouched\n")
    sentinel.chmod(0o666)
    data_dir = make_data_dir(root, sentinel)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    kernel = start_contained(variant, root / "spec", f"--SafeKernel.data_dir={data_dir}")
    try:
        assert kernel.run("return 1").result == "1"
        host = Host(kernel, sentinel, data_dir, listener, baseline=0)
        host.baseline = len(_settled_tree(host, len(kernel.tree())))
        yield variant, host
    finally:
        _stop(kernel)
        listener.close()
        shutil.rmtree(root)


def test_kernel_info_and_sandbox_magic_name_the_missing_layers(
    contained: tuple[str, Host],
) -> None:
    variant, host = contained
    _, missing = VARIANTS[variant]
    reply = host.kernel.kc.kernel_info(reply=True, timeout=30)["content"]
    layers = {layer["name"]: layer for layer in reply["safekernel"]["layers"]}
    unavailable = {name for name, layer in layers.items() if layer["state"] != "active"}
    assert unavailable == missing
    for name in missing:
        assert layers[name]["state"] == "unavailable"
        assert WHY[name] in layers[name]["detail"]
    if "network" in missing:
        # as root or as a normal user, the reason names the container's likely cause
        assert re.search(r"seccomp profile (that )?refuses unshare", layers["network"]["detail"])
    assert "WARNING: not every sandbox layer is active" in reply["banner"]

    report = host.kernel.run("%sandbox").stdout
    for name, layer in layers.items():
        row = next(line for line in report.splitlines() if line.startswith(name + " "))
        assert layer["state"] in row
        assert layer["detail"] in row


def _representative() -> list[Path]:
    """Every attack on the host (files, network, processes, fds, environment escapes need the
    OS layers most), and the first two of each other kind."""
    chosen: list[Path] = []
    seen: dict[str, int] = {}
    for path in attack_files():
        kind = path.stem.split("_")[0]
        seen[kind] = seen.get(kind, 0) + 1
        if kind in {"net", "proc", "fd", "data"} or seen[kind] <= 2:
            chosen.append(path)
    return chosen


@pytest.mark.parametrize("path", _representative(), ids=lambda p: p.stem)
def test_attacks_still_hold(contained: tuple[str, Host], path: Path) -> None:
    _, host = contained
    run_attack(host, parse_attack(path.name, path.read_text()))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_require_all_layers_refuses_clearly(variant: str, tmp_path: Path) -> None:
    _, missing = VARIANTS[variant]
    kernel = start_contained(variant, tmp_path, "--SafeKernel.require_all_layers=True")
    try:
        run = kernel.run("return 6 * 7")
        assert run.status == "error"
        assert run.result is None
        assert run.error is not None
        assert run.error["ename"] == "WorkerUnavailable"
        evalue = run.error["evalue"]
        assert "require_all_layers" in evalue
        for name in missing:
            assert name in evalue
        assert "Traceback" not in "\n".join(run.error["traceback"])
        # refused again, the same way, and the kernel is still there to say so
        assert kernel.run("return 1").error is not None
        assert kernel.km.is_alive()
    finally:
        _stop(kernel)
