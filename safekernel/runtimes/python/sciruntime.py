"""The python-science runtime: the python runtime's host and driver on the scientific guest
(CPython 3.15 with numpy, pandas, scipy, scikit-learn and matplotlib compiled in; science.py).

The guest is a reactor: `host_alloc(len)` gives a buffer, `turn(ptr, len)` runs the Python
source in it in `__main__` and returns. The zygote's template runs one turn: the driver's
definitions (driver.py without its last line, `main()`) and the imports every worker wants
(numpy, pandas, matplotlib with the Agg backend, its config dir in the in-memory /tmp), so
each worker inherits them by fork and `import numpy` costs nothing in a cell. A worker's guest
thread then runs the second turn, the same driver loop (`_serve()`, what `main()` runs after
`_prepare()`), which never returns; its first request carries the worker's own seed, and the
driver reseeds `random` and numpy's global generator with it. From there on the runtime is
the python runtime's (PythonRuntime): requests on fd 0, control frames on fd 2.

Differences from the 3.12 guest, all here:
- the stop flags are at this binary's addresses (science.py), and the eval breaker is the main
  thread state's: interrupts and soft time limits raise inside the guest, state kept;
- the cell's memory limit counts above the heap the pre-imports left (~170 MB), so
  `%memory 256M` means 256 MB for the cell's own data;
- the hash seed is the snapshot's (its build disabled hash randomisation, and a started
  interpreter cannot change it): the same in every worker and every kernel. Only
  hash-flooding depends on it.
"""

from __future__ import annotations

import ctypes
import functools

import wasmtime

from safekernel.errors import SafeKernelError
from safekernel.limits import StopKind
from safekernel.runtimes.python import _DRIVER, _SIGNALS, TMP_BYTES, PythonRuntime, guest, science
from safekernel.runtimes.wasm.wasi import GuestExit, WasiConfig, WasiHost
from safekernel.wire.confinement import LayerState, LayerStatus

#: the driver's definitions without the call that enters its loop
_DRIVER_BODY, _, _ENTRY = _DRIVER.rstrip().rpartition("\n")
assert _ENTRY == "main()", "driver.py must end with main()"

#: run once in the zygote, after the driver's definitions (names here stay the driver's:
#: a cell's namespace is the driver's `_user_module`, not `__main__`)
_WARM = """
_prepare()
import os as _os
_os.makedirs("/tmp/matplotlib", exist_ok=True)
# matplotlib reads (and caches) its config dir when pyplot loads; the cell's environment stays
# empty, as the 3.12 guest's
_os.environ["MPLCONFIGDIR"] = "/tmp/matplotlib"
import numpy as _numpy
import pandas as _pandas
import matplotlib as _matplotlib
_matplotlib.use("agg")
import matplotlib.pyplot as _pyplot
import matplotlib.figure as _figure
_install_matplotlib(_pyplot)
_matplotlib.get_configdir()
del _os.environ["MPLCONFIGDIR"]
import gc as _gc
_gc.collect()
_gc.freeze()
"""
#: a worker's turn: the driver's loop (its first request reseeds random and numpy)
_WORKER = "_serve()\n"
#: the in-memory /tmp: matplotlib's font cache and a cell's scratch files
SCIENCE_TMP_BYTES = max(TMP_BYTES, 64 * 1024 * 1024)
#: the environment the guest sees (nothing of the host's)
#: the environment the guest sees: none (matplotlib's config dir is set for its import only)
_ENVIRON: list[bytes] = []


@functools.cache
def _compiled() -> tuple[wasmtime.Engine, wasmtime.Module, dict[str, bytes]]:
    engine = wasmtime.Engine(science.engine_config(parallel=False))
    return engine, science.load_module(engine), science.guest_files()


def prewarm() -> None:
    """In the zygote (and at install): the pinned guest, compiled once per machine."""
    _compiled()


def _no_host_calls(*args: object) -> int:
    # the wheel's own host offers "tools" through this import; ours offers none
    return -1


class ScienceRuntime(PythonRuntime):
    name = "python-science"
    version = science.VERSION

    def __init__(self, memory_limit: int, data_dir: str | None = None) -> None:
        engine, module, files = _compiled()
        self._init_host_state(memory_limit)
        self._store = wasmtime.Store(engine)
        self._wasi = WasiHost(
            WasiConfig(
                stdout=self._on_stdout,
                stderr=self._on_stderr,
                stdin=self._on_read,
                args=[b"python"],
                environ=list(_ENVIRON),
                files=files,
                hidden_dirs=frozenset({science.MPL_DATA_GUEST.rpartition("/")[0]}),
                tmp_dir="/tmp",
                tmp_bytes=SCIENCE_TMP_BYTES,
                should_stop=self._stopping,
            )
        )
        linker = wasmtime.Linker(engine)
        self._wasi.link(linker, module)
        for imp in module.imports:
            if imp.module == "host" and imp.name is not None:
                assert isinstance(imp.type, wasmtime.FuncType)
                linker.define_func("host", imp.name, imp.type, _no_host_calls)
        self._instantiate(linker, module)
        self._baseline = 0
        self._breaker = 0
        self._warm()

    # -- the zygote's turn ------------------------------------------------------------------
    def _turn(self, source: str) -> int:
        exports = self._instance.exports(self._store)
        alloc, turn = exports["host_alloc"], exports["turn"]
        assert isinstance(alloc, wasmtime.Func)
        assert isinstance(turn, wasmtime.Func)
        data = source.encode()
        pointer = alloc(self._store, len(data))
        if not isinstance(pointer, int) or pointer <= 0:
            raise SafeKernelError("the python-science guest had no memory for its driver")
        self._memory.write(self._store, data, pointer & 0xFFFFFFFF)
        result = turn(self._store, pointer, len(data))
        return result if isinstance(result, int) else -1

    def _warm(self) -> None:
        """The driver's definitions and the pre-imports, on this (the zygote's) thread."""
        self._store.set_limits(memory_size=self._memory_limit + 1024 * 1024 * 1024)
        errors: list[bytes] = []
        self._wasi.config.stderr = errors.append
        try:
            status = self._turn(_DRIVER_BODY + "\n" + _WARM)
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestExit) as exc:
            raise SafeKernelError(f"the python-science guest did not start: {exc}") from None
        finally:
            self._wasi.config.stderr = self._on_stderr
        if status != 0:
            detail = b"".join(errors).decode("utf-8", "replace")[-2000:]
            raise SafeKernelError(f"the python-science guest did not start: {detail}")
        self._remove_test_modules()
        self._baseline = self._memory.data_len(self._store)
        # the main thread's state lives as long as the interpreter: its eval breaker's place
        tstate = ctypes.c_uint32.from_address(self._base + science.MAIN_TSTATE).value
        if not 0 < tstate < self._baseline - 64:
            raise SafeKernelError("the python-science guest's thread state was not found")
        self._breaker = tstate + science.EVAL_BREAKER_OFFSET
        self._store.set_limits(memory_size=self._memory_cap(self._memory_limit))

    def _remove_test_modules(self) -> None:
        size = self._memory.data_len(self._store)
        image = ctypes.string_at(self._base, size)
        for address, table in guest.pruned_inittabs(image, b"faulthandler"):
            ctypes.memmove(self._base + address, table, len(table))

    def _remove_builtin_modules(self) -> None:
        # done once in the zygote (_warm), before any cell could run
        pass

    def _memory_cap(self, memory: int) -> int:
        return self._baseline + memory

    def walls(self) -> list[LayerStatus]:
        return [
            LayerStatus(
                "wasm",
                LayerState.ACTIVE,
                f"CPython {science.VERSION} with numpy, pandas and matplotlib (the pinned "
                f"{science.PACKAGE} snapshot) in a WebAssembly instance (wasmtime): linear "
                f"memory capped at the cell's memory limit "
                f"({self._memory_limit // (1024 * 1024)} MB by default) above the "
                f"{self._baseline // (1024 * 1024)} MB the pre-imported packages hold; no "
                "imports but our WASI layer (no host files, sockets, environment or "
                "processes; a 64 MB in-memory /tmp); stops raised inside the guest through "
                "CPython's signal flags",
            )
        ]

    # -- the worker's guest thread ----------------------------------------------------------
    def _enter_guest(self) -> None:
        """Run the driver's request loop in one turn of the reactor (until it ends)."""
        self._turn(_WORKER)

    # -- stops ------------------------------------------------------------------------------
    def _trip(self, reason: StopKind) -> None:
        """What CPython 3.15's C signal handler does: the handler's flag, `is_tripped`, then
        the signals-pending bit of the main thread's eval breaker."""
        self._poke(science.tripped(_SIGNALS[reason]), 1)
        self._poke(science.IS_TRIPPED, 1)
        breaker = ctypes.c_uint32.from_address(self._base + self._breaker)
        breaker.value |= science.SIGNALS_PENDING_BIT

    def _disarm(self) -> None:
        with self._lock:
            self._armed = False
            for signum in _SIGNALS.values():
                self._poke(science.tripped(signum), 0)
            self._poke(science.IS_TRIPPED, 0)
