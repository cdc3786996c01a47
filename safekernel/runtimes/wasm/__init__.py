"""The wasm runtime: Lua 5.4 compiled to WebAssembly, run by wasmtime inside the worker, with
our own WASI layer (wasi.py) as the guest's whole system interface."""
