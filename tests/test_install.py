"""`python -m safekernel install` puts a working kernelspec where Jupyter looks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager


def install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safekernel", "install", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_install_into_prefix_writes_kernel_json_and_logos(tmp_path: Path) -> None:
    result = install("--prefix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    spec_dir = tmp_path / "share" / "jupyter" / "kernels" / "safe"
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-m", "safekernel", "-f", "{connection_file}"]
    assert spec["display_name"] == "Lua (sandboxed)"
    assert spec["language"] == "lua"
    assert (spec_dir / "logo-32x32.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (spec_dir / "logo-64x64.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    found = KernelSpecManager(kernel_dirs=[str(tmp_path / "share" / "jupyter" / "kernels")])
    assert "safe" in found.find_kernel_specs()


def test_install_with_name_and_display_name(tmp_path: Path) -> None:
    result = install("--prefix", str(tmp_path), "--name", "grading", "--display-name", "Grading")
    assert result.returncode == 0, result.stderr
    spec = json.loads(
        (tmp_path / "share" / "jupyter" / "kernels" / "grading" / "kernel.json").read_text()
    )
    assert spec["display_name"] == "Grading"


def test_install_can_bake_in_options(tmp_path: Path) -> None:
    result = install("--prefix", str(tmp_path), "--", "--SafeKernel.isolation=cell")
    assert result.returncode == 0, result.stderr
    spec = json.loads(
        (tmp_path / "share" / "jupyter" / "kernels" / "safe" / "kernel.json").read_text()
    )
    assert spec["argv"][-1] == "--SafeKernel.isolation=cell"


def test_prestart_is_opt_in_through_the_kernelspec_metadata(tmp_path: Path) -> None:
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    assert install("--prefix", str(tmp_path)).returncode == 0
    assert install("--prefix", str(tmp_path), "--name", "fast", "--prestart").returncode == 0
    plain = json.loads((kernels / "safe" / "kernel.json").read_text())
    fast = json.loads((kernels / "fast" / "kernel.json").read_text())
    assert "kernel_provisioner" not in plain.get("metadata", {})
    assert fast["metadata"]["kernel_provisioner"] == {
        "provisioner_name": "safekernel-prestart",
        "config": {},
    }
    assert fast["argv"] == plain["argv"]


def test_user_install_goes_to_the_user_data_dir(tmp_path: Path) -> None:
    result = install("--user", env={"JUPYTER_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "kernels" / "safe" / "kernel.json").exists()


def test_conflicting_locations_are_refused_with_a_message() -> None:
    result = install("--user", "--prefix", "/tmp/x")
    assert result.returncode != 0
    assert "not allowed with" in result.stderr


def _modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): path.stat().st_mode & 0o777
        for path in [root, *sorted(root.rglob("*"))]
    }


def test_install_is_readable_by_everyone_whatever_the_umask(tmp_path: Path) -> None:
    # root's umask is often 077, and the spec is built in a 0700 TemporaryDirectory: the
    # installed spec must still be readable by the users who start the kernel
    result = subprocess.run(
        [sys.executable, "-m", "safekernel", "install", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: os.umask(0o077),
    )
    assert result.returncode == 0, result.stderr
    modes = _modes(tmp_path / "share")
    assert modes == {
        ".": 0o755,
        "jupyter": 0o755,
        "jupyter/kernels": 0o755,
        "jupyter/kernels/safe": 0o755,
        "jupyter/kernels/safe/kernel.json": 0o644,
        "jupyter/kernels/safe/logo-32x32.png": 0o644,
        "jupyter/kernels/safe/logo-64x64.png": 0o644,
    }


def test_install_leaves_existing_directories_alone(tmp_path: Path) -> None:
    kernels = tmp_path / "share" / "jupyter" / "kernels"
    kernels.mkdir(parents=True)
    kernels.chmod(0o750)
    result = install("--prefix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert kernels.stat().st_mode & 0o777 == 0o750
    assert (kernels / "safe").stat().st_mode & 0o777 == 0o755


def test_a_bad_name_is_refused_with_a_message(tmp_path: Path) -> None:
    result = install("--prefix", str(tmp_path), "--name", "a b")
    assert result.returncode == 2
    assert "Invalid kernel name" in result.stderr
    assert "Traceback" not in result.stderr
