"""Python 3.12 as CPython compiled to WebAssembly (safekernel/runtimes/python/)."""

from __future__ import annotations

from safekernel.limits import MIB
from safekernel.runtimes.registry import RuntimeEntry

#: wasmtime reserves 4 GiB of address space (plus guard pages) for the guest's linear memory
#: and keeps the guest's memory inside it, bounded by the store's limit (the cell's memory
#: limit): RLIMIT_AS stays a backstop for the host side, above that reservation.
_WASM_RESERVATION = 4096 * MIB + 64 * MIB

ENTRY = RuntimeEntry(
    name="python",
    module="safekernel.runtimes.python",
    factory="PythonRuntime",
    language_info={
        "name": "python",
        "version": "3.12",
        "mimetype": "text/x-python",
        "file_extension": ".py",
        "pygments_lexer": "ipython3",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "nbconvert_exporter": "python",
    },
    banner="Python 3.12 (CPython for WebAssembly)",
    kernelspec_name="safe-python",
    display_name="Python (sandboxed)",
    address_space_headroom=_WASM_RESERVATION + 1024 * MIB,
    interpreter_address_space=_WASM_RESERVATION + 768 * MIB,
    prewarm_hook="prewarm",
    # the interpreter, started in the zygote, waits inside its own first fd_read on the
    # zygote's main thread: each fork inherits it started (see runtimes/python/__init__.py)
    resident=True,
)
