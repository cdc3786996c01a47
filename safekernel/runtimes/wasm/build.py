"""Building the Lua guest and caching its compiled code, once per machine.

Two steps, both explicit and cached (never a download: the C sources are vendored in guest/,
the compiler is PyPI's `ziglang`, a declared dependency):
1. `python -m ziglang cc` compiles guest/glue.c and the vendored Lua 5.4 sources to a WASI
   reactor, `lua-<digest>.wasm` (~60 s on a fresh machine, which builds wasi-libc; ~10 s after).
2. wasmtime compiles that module to native code, `lua-<digest>-<engine>.cwasm`, which each
   zygote deserializes in well under a millisecond instead of compiling it (~0.5 s serial).

`python -m safekernel install --runtime wasm` runs both (the runtime's prewarm hook); a zygote
that finds no cache runs them at its first start. The digest covers the sources, the build
flags and the engine settings, so a changed source or wasmtime version makes a new file rather
than reusing a stale one. The cache lives in the user's cache directory (never the package's,
which may be read-only). Deserializing trusts the file as native code, so each .cwasm has a
SHA-256 beside it, checked before use: a corrupt or truncated file is rebuilt, never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

import wasmtime

from safekernel.errors import SafeKernelError

log = logging.getLogger("safekernel.wasm")

GUEST = resources.files("safekernel.runtimes.wasm").joinpath("guest")
#: Lua's C error path (setjmp/longjmp) as wasm exceptions; signal emulation for lstate.c; the
#: stack placed first in memory (zig's default), so a C stack overflow traps below address 0
#: instead of writing over the guest's data; loslib's os.execute and os.tmpname without a shell
#: or a file system (the whitelist keeps neither, but the library must compile).
CFLAGS = (
    "-target",
    "wasm32-wasi",
    "-mexec-model=reactor",
    "-O2",
    "-s",
    "-mllvm",
    "-wasm-enable-sjlj",
    "-mllvm",
    "-wasm-use-legacy-eh=false",
    "-mexception-handling",
    "-D_WASI_EMULATED_SIGNAL",
    "-D_WASI_EMULATED_PROCESS_CLOCKS",
    "-lwasi-emulated-signal",
    "-lwasi-emulated-process-clocks",
    "-Dl_system(cmd)=((cmd)==NULL?0:-1)",
    "-DLUA_TMPNAMBUFSIZE=32",
    "-Dlua_tmpnam(b,e)={e=1;}",
    "-Wl,-z,stack-size=4194304",
)
BUILD_TIMEOUT_S = 900


class GuestBuildError(SafeKernelError):
    """The guest could not be built or compiled."""


def cache_dir() -> Path:
    """Where the built guest and its compiled code live: $SAFEKERNEL_CACHE_DIR/wasm (an
    operator's choice, passed on to the zygote), else the user's ~/.cache/safekernel/wasm."""
    configured = os.environ.get("SAFEKERNEL_CACHE_DIR")
    if configured:
        return Path(configured) / "wasm"
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        # the zygote runs without HOME: the password database names the user's home
        home = os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir
        base = os.path.join(home, ".cache")
    return Path(base) / "safekernel" / "wasm"


def _sources() -> list[tuple[str, bytes]]:
    files = [
        ("glue.c", GUEST.joinpath("glue.c")),
        ("longjmp_tag.s", GUEST.joinpath("longjmp_tag.s")),
    ]
    lua = GUEST.joinpath("lua")
    files += sorted(
        (f"lua/{item.name}", item) for item in lua.iterdir() if item.name.endswith((".c", ".h"))
    )
    return [(name, item.read_bytes()) for name, item in files]


def source_digest() -> str:
    digest = hashlib.sha256()
    for name, content in _sources():
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    digest.update("\0".join(CFLAGS).encode())
    return digest.hexdigest()[:16]


def build_wasm(directory: Path | None = None) -> Path:
    """The guest module, built now if it is not in the cache."""
    directory = directory or cache_dir()
    target = directory / f"lua-{source_digest()}.wasm"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    log.warning("safekernel: building the Lua WebAssembly guest (once per machine) ...")
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        for name, content in _sources():
            (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / name).write_bytes(content)
        sources = [
            "glue.c",
            "longjmp_tag.s",
            *(n for n, _ in _sources() if n.endswith(".c") and n.startswith("lua/")),
        ]
        output = Path(tmp) / "lua.wasm"
        command = [sys.executable, "-m", "ziglang", "cc", *CFLAGS, *sources, "-o", str(output)]
        try:
            done = subprocess.run(
                command, cwd=tmp, capture_output=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GuestBuildError(f"could not run the zig compiler: {exc}") from exc
        if done.returncode != 0 or not output.exists():
            detail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise GuestBuildError("building the Lua guest failed: " + " / ".join(detail))
        os.replace(output, target)
    return target


def engine_config() -> wasmtime.Config:
    """The one engine configuration: the compiled code is only valid for it."""
    config = wasmtime.Config()
    # compiling in parallel starts threads; a zygote that must fork stays single-threaded
    config.parallel_compilation = False
    # time limits and interrupts: the host bumps the epoch, the guest stops at its next check
    config.epoch_interruption = True
    # room for Lua's deepest C recursion (LUAI_MAXCCALLS levels), far below the 8 MB of the
    # worker's main thread, which runs the guest
    config.max_wasm_stack = 2 * 1024 * 1024
    return config


def _engine_key() -> str:
    # the compiled code depends on wasmtime's version and the engine's settings
    from importlib.metadata import version

    return hashlib.sha256(f"wasmtime {version('wasmtime')} epoch stack2M".encode()).hexdigest()[:12]


def compiled_module(engine: wasmtime.Engine, directory: Path | None = None) -> wasmtime.Module:
    """The guest's compiled module for `engine`, from the cache (built and compiled if it is
    missing, stale or corrupt)."""
    directory = directory or cache_dir()
    wasm = build_wasm(directory)
    compiled = wasm.with_name(f"{wasm.stem}-{_engine_key()}.cwasm")
    checksum = compiled.with_suffix(".sha256")
    if compiled.exists() and checksum.exists():
        data = compiled.read_bytes()
        if hashlib.sha256(data).hexdigest() == checksum.read_text().strip():
            try:
                return wasmtime.Module.deserialize(engine, data)
            except wasmtime.WasmtimeError as exc:
                log.warning("safekernel: the compiled guest is unusable (%s); compiling again", exc)
        else:
            log.warning(
                "safekernel: the compiled guest in %s is corrupt; compiling again", compiled
            )
    module = wasmtime.Module(engine, wasm.read_bytes())
    data = bytes(module.serialize())
    _write_atomically(compiled, data)
    _write_atomically(checksum, hashlib.sha256(data).hexdigest().encode())
    return module


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
