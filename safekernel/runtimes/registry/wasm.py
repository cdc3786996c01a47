"""Lua 5.4 compiled to WebAssembly, run by wasmtime in the worker (safekernel/runtimes/wasm/)."""

from __future__ import annotations

from safekernel.limits import ADDRESS_SPACE_HEADROOM, INTERPRETER_ADDRESS_SPACE
from safekernel.runtimes.registry import RuntimeEntry

#: wasmtime reserves address space for a linear memory and its guard regions (its bounds checks
#: are guard pages): one instance added 8.13 GiB of VmSize here (wasmtime 50). Reserved, not
#: used: Store.set_limits bounds what the guest really gets. Keeping the reservation is what
#: keeps the guest fast (see runtimes/wasm/runtime.py).
WASM_RESERVATION = 9 * 1024 * 1024 * 1024

ENTRY = RuntimeEntry(
    name="wasm",
    module="safekernel.runtimes.wasm.runtime",
    factory="WasmRuntime",
    language_info={
        "name": "lua",
        "version": "5.4",
        "mimetype": "text/x-lua",
        "file_extension": ".lua",
        "pygments_lexer": "lua",
        "codemirror_mode": "lua",
    },
    banner="Lua 5.4 (WebAssembly sandbox: wasmtime, our own WASI layer)",
    kernelspec_name="safe-wasm",
    display_name="Lua (WebAssembly sandbox)",
    address_space_headroom=ADDRESS_SPACE_HEADROOM + WASM_RESERVATION,
    interpreter_address_space=INTERPRETER_ADDRESS_SPACE + WASM_RESERVATION,
    prewarm_hook="prewarm",
)
