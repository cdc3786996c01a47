"""The runtime registry: a runtime is a package plus one entry, and the kernel side reads only
the entry. Pure data checks here; tests/test_fake_runtime.py runs a kernel on a second runtime."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from safekernel.errors import ConfigError
from safekernel.runtimes import registry
from safekernel.sandbox.seccomp import _ARCHES


def test_lua_is_the_default_and_the_fake_runtime_is_hidden() -> None:
    assert registry.DEFAULT_RUNTIME == "lua"
    assert "lua" in registry.names()
    assert "fake" not in registry.names()
    assert "fake" in registry.names(include_hidden=True)


def test_an_unknown_runtime_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"unknown runtime 'cobol'; available: .*lua"):
        registry.get("cobol")


@pytest.mark.parametrize("name", registry.names(include_hidden=True))
def test_every_entry_names_a_runtime_package_and_known_syscalls(name: str) -> None:
    entry = registry.get(name)
    assert importlib.util.find_spec(entry.module) is not None
    assert {"name", "version", "mimetype", "file_extension"} <= set(entry.language_info)
    numbered = set().union(*(arch.numbers for arch in _ARCHES.values()))
    assert set(entry.extra_syscalls) <= numbered, "a syscall seccomp has no number for"
    assert all(reason for reason in entry.extra_syscalls.values())
    assert entry.kernelspec_name.startswith("safe")


def test_reading_the_registry_imports_no_runtime() -> None:
    # the kernel side reads entries; a runtime (and lupa) must load only in the zygote
    code = (
        "import sys\n"
        "import safekernel.kernel.kernel\n"
        "from safekernel.runtimes import registry\n"
        "registry.entries()\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    runtimes = {m for m in loaded if m.startswith("safekernel.runtimes.")}
    assert all(
        m.startswith(("safekernel.runtimes.registry", "safekernel.runtimes.base")) for m in runtimes
    ), runtimes
    assert not [m for m in loaded if m == "lupa" or m.startswith("lupa.")]


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safekernel", "install", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_install_runtime_writes_that_runtimes_kernelspec(tmp_path: Path) -> None:
    result = _install("--prefix", str(tmp_path), "--runtime", "fake")
    assert result.returncode == 0, result.stderr
    spec_file = tmp_path / "share" / "jupyter" / "kernels" / "safe-fake" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["argv"] == [
        sys.executable,
        "-m",
        "safekernel",
        "-f",
        "{connection_file}",
        "--SafeKernel.runtime=fake",
    ]
    assert spec["display_name"] == "Fake (safekernel tests)"
    assert spec["language"] == "fake"


def test_install_refuses_an_unknown_runtime_in_one_line(tmp_path: Path) -> None:
    result = _install("--prefix", str(tmp_path), "--runtime", "cobol")
    assert result.returncode == 2
    assert "unknown runtime 'cobol'" in result.stderr
    assert "Traceback" not in result.stderr
