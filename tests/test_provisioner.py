"""The prestart provisioner (kernel/provisioner.py) through jupyter_client's own managers: a
restart and a new kernel claim a prestarted spare, with fresh state and their own key, and
nothing is left running afterwards, even when the server is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.multikernelmanager import MultiKernelManager

from safekernel.kernel.install import write_kernelspec
from safekernel.kernel.provisioner import PROVISIONER_NAME, PrestartProvisioner, stop_spares
from safekernel.runtimes import registry

GROUP = "jupyter_client.kernel_provisioners"
REPO = Path(__file__).resolve().parent.parent
WAIT_S = 60.0


def _register_entry_point(tmp: Path) -> Path | None:
    """pyproject.toml declares the entry point; an editable install made before it existed has
    no record of it, so register the same one in a throwaway dist-info on sys.path."""
    if any(ep.name == PROVISIONER_NAME for ep in metadata.entry_points(group=GROUP)):
        return None
    info = tmp / "safekernel_prestart_test-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: safekernel-prestart-test\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n{PROVISIONER_NAME} = safekernel.kernel.provisioner:PrestartProvisioner\n"
    )
    return tmp


@pytest.fixture
def specs(tmp_path: Path) -> Iterator[KernelSpecManager]:
    extra = _register_entry_point(tmp_path)
    if extra is not None:
        sys.path.insert(0, str(extra))
    spec_dir = tmp_path / "kernels" / "safe-prestart"
    spec_dir.mkdir(parents=True)
    write_kernelspec(spec_dir, "Lua (prestart)", [], registry.get("lua"), prestart=True)
    try:
        yield KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False)
    finally:
        stop_spares()
        if extra is not None:
            sys.path.remove(str(extra))


def _run(manager: Any, code: str) -> tuple[str, str]:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=WAIT_S)
        out: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])

        reply = client.execute_interactive(code, timeout=WAIT_S, output_hook=hook)
        return reply["content"]["status"], "".join(out)
    finally:
        client.stop_channels()


def _wait_for_spare() -> psutil.Process:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        spares = list(PrestartProvisioner._spares.values())
        if spares:
            return psutil.Process(spares[0].pid)
        time.sleep(0.05)
    raise AssertionError("no spare was started")


def _tree(process: psutil.Process) -> list[psutil.Process]:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _all_gone(processes: list[psutil.Process]) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=WAIT_S)
    return alive


def test_restart_and_new_kernel_claim_a_fresh_prestarted_spare(
    specs: KernelSpecManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert "kernel_provisioner" in specs.get_kernel_spec("safe-prestart").metadata
    mkm = MultiKernelManager(kernel_spec_manager=specs)
    seen: list[psutil.Process] = []
    try:
        first = mkm.start_kernel(kernel_name="safe-prestart")
        km = mkm.get_kernel(first)
        assert isinstance(km.provisioner, PrestartProvisioner)
        seen += _tree(psutil.Process(km.provisioner.pid))
        assert _run(km, "x = 41\nprint(x + 1)") == ("ok", "42\n")
        key_before = km.session.key

        spare = _wait_for_spare()
        seen += _tree(spare)
        assert spare.environ().get("SAFEKERNEL_PRESTART") == "1"
        old_pid = km.provisioner.pid
        km.restart_kernel()
        assert km.provisioner.pid == spare.pid != old_pid
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
        # a fresh kernel: the old state is gone
        assert _run(km, "print(x)") == ("ok", "nil\n")
        assert km.session.key == key_before  # a restart keeps its kernel's key and ports

        spare = _wait_for_spare()
        seen += _tree(spare)
        second = mkm.start_kernel(kernel_name="safe-prestart")
        other = mkm.get_kernel(second)
        assert other.provisioner.pid == spare.pid
        assert other.session.key != km.session.key
        assert other.connection_file != km.connection_file
        assert _run(other, "print(x)") == ("ok", "nil\n")
        seen += _tree(_wait_for_spare())
    finally:
        mkm.shutdown_all(now=False)
        stop_spares()
    assert _all_gone(seen) == []


SERVER = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, sys.argv[2])
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from safekernel.kernel.provisioner import PrestartProvisioner
    km = KernelManager(kernel_name="safe-prestart",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[sys.argv[1]]))
    km.start_kernel()
    deadline = time.monotonic() + 60
    while not PrestartProvisioner._spares and time.monotonic() < deadline:
        time.sleep(0.05)
    spare = next(iter(PrestartProvisioner._spares.values()))
    print(spare.pid, flush=True)
    time.sleep(2)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_spares_die_with_a_killed_server(specs: KernelSpecManager, tmp_path: Path) -> None:
    extra = [p for p in sys.path if p.startswith(str(tmp_path))]
    server = subprocess.run(
        [sys.executable, "-c", SERVER, str(tmp_path / "kernels"), extra[0] if extra else ""],
        capture_output=True,
        text=True,
        timeout=WAIT_S * 2,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))},
        check=False,
    )
    assert server.returncode == -9, server.stderr[-2000:]
    spare = psutil.Process(int(server.stdout.split()[0]))
    assert _all_gone(_tree(spare)) == []
