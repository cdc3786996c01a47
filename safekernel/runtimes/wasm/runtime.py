"""The wasm runtime: the `lua` runtime's Lua code (runtimes/lua/host, lib) running in a Lua 5.4
compiled to WebAssembly (guest/), inside the hardened worker: two walls between a cell and the
machine. The guest's only ways out are our WASI layer (wasi.py) and two imported functions,
safekernel.host and safekernel.reply (glue.c); this module implements both and checks every
pointer and length the guest gives against its memory.

Limits:
- time and interrupt: `interrupt()` (any thread) records the reason and bumps the engine's
  epoch; the guest reaches its deadline at its next loop or call, and the deadline callback (on
  the cell's thread, inside the guest) calls the guest's sk_interrupt, which sets the Lua stop
  hook, as stopswitch.py does with lupa. The state is kept. A guest stuck where the hook never
  fires is ended by the kernel's hard kill, as with lupa. No epoch ticker thread: the epoch only
  moves when a stop is wanted, so a normal cell pays only the epoch checks (~1.95x native
  instead of 1.71x, measured).
- memory: the guest's allocator counts Lua's bytes and refuses past the cell's limit (lupa's
  max_memory, the same "not enough memory" error, state kept); `Store.set_limits` caps the
  linear memory a little above it, so even a guest whose count went wrong cannot grow past it.
- instructions: sandbox.lua's own count hook, as in `lua` (the budget counts Lua VM
  instructions in both runtimes; wasm fuel, which would count wasm instructions, is not used).
- RLIMIT_AS: wasmtime reserves ~4 GiB of address space per linear memory (bounds checks by
  guard pages). Shrinking that reservation to fit a tight RLIMIT_AS made Lua 1.8x slower
  (3.44x native instead of 1.95x, measured), so the registry gives this runtime the room in
  its address-space headroom and `Store.set_limits` bounds the memory actually used.

A trap (a guest bug, a wasm stack overflow, proc_exit) leaves the instance unusable: the worker
exits at once and the kernel reports a lost worker, as for a crash.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any, NoReturn

import wasmtime
from wasmtime import _bindings as ffi

from safekernel.errors import SafeKernelError
from safekernel.limits import Limits, StopKind, limit_message
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime
from safekernel.runtimes.datadir import DataDir, DataError
from safekernel.runtimes.luaside import (
    BINARY_MIME,
    BUDGET_STEP,
    CAPS,
    LUA_VERSION,
    MAX_INDENT_DEPTH,
    MAX_INDENT_SCAN,
    MAX_IS_COMPLETE_CHARS,
    NO_MATCHES,
    SOURCES,
    block_depth,
    bundle,
    call_name,
    interpret,
    is_memory_error,
    name_at,
    name_before,
    text,
)
from safekernel.runtimes.wasm import build
from safekernel.runtimes.wasm.wasi import GuestExit, GuestMemory, WasiConfig, WasiHost
from safekernel.wire.confinement import LayerState, LayerStatus

log = logging.getLogger("safekernel.wasm")

BOOT = build.GUEST.joinpath("boot.lua").read_bytes()
#: read at import (in the zygote): a hardened worker can open no file
WASMTIME_VERSION = metadata.version("wasmtime")
#: linear memory beyond the cell's Lua memory limit: the guest's data, its 4 MB C stack and
#: the buffers results travel in
GUEST_HEADROOM = 32 * 1024 * 1024
#: The guest's malloc (zig's libc: std.heap.WasmAllocator) keeps power-of-two size classes
#: that never merge, so the linear memory behind N bytes of Lua data reached 2.05N in a
#: memory bomb (measured); and once memory.grow is refused, a size class whose free list is
#: empty can never be refilled (a 50 KB malloc then failed while 300 KB ones succeeded). So
#: the linear memory may grow to this many times the Lua limit: Lua's own count (the user's
#: limit, state kept) is what stops a cell, with room left for the heap to serve the next.
GUEST_MEMORY_FACTOR = 3
#: sk_call's first argument: which repl function to run
RUN, COMPLETE, INSPECT, IS_COMPLETE = 0, 1, 2, 3
CALL_OK, CALL_ERROR, CALL_MEMORY, CALL_STOPPED = 0, 1, 2, 3
OP_STDOUT, OP_STDERR, OP_REQUEST_STOP, OP_DISPLAY = 1, 2, 3, 4
OP_CLEAR, OP_INPUT, OP_DATA_LIST, OP_DATA_READ = 5, 6, 7, 8
NO_REPLY = -1
_EXPORTS = (
    "sk_init",
    "sk_source",
    "sk_boot",
    "sk_alloc",
    "sk_free",
    "sk_out_ptr",
    "sk_out_len",
    "sk_call",
    "sk_arm",
    "sk_disarm",
    "sk_interrupt",
    "sk_set_limit",
    "sk_used",
    "sk_peak",
    "sk_peak_reset",
    "sk_gc",
    "sk_instructions_used",
    "sk_randomseed",
)
_I32 = wasmtime.ValType.i32()
# wasmtime-py exposes the epoch-deadline callback only through its C API bindings
_CALLBACK_TYPE = ffi._wasmtime_store_epoch_deadline_callback.argtypes[1]
_FINALIZER_TYPE = ffi._wasmtime_store_epoch_deadline_callback.argtypes[3]
UPDATE_DEADLINE_CONTINUE = 0

_loaded: tuple[wasmtime.Engine, wasmtime.Module] | None = None


def load() -> tuple[wasmtime.Engine, wasmtime.Module]:
    """The engine and the guest's compiled module, once per process (the zygote's prewarm)."""
    global _loaded  # noqa: PLW0603 -- one engine and module per process, inherited by fork
    if _loaded is None:
        engine = wasmtime.Engine(build.engine_config())
        _loaded = engine, build.compiled_module(engine)
    return _loaded


def prewarm() -> None:
    """The zygote's prewarm, and the installer's once-per-machine step (build and compile)."""
    load()


class GuestLost(SafeKernelError):
    """The guest trapped or exited: its instance cannot run again."""


def _values(raw: bytes) -> tuple[Any, ...]:
    """sk_call's tagged results (glue.c's out_value): nil, string, integer, boolean, table."""
    values: list[Any] = []
    at = 0
    while at < len(raw):
        tag = raw[at]
        at += 1
        if tag == 0:
            values.append(None)
        elif tag == 1:
            (size,) = struct.unpack_from("<I", raw, at)
            values.append(raw[at + 4 : at + 4 + size])
            at += 4 + size
        elif tag == 2:
            values.append(struct.unpack_from("<q", raw, at)[0])
            at += 8
        elif tag == 3:
            values.append(bool(raw[at]))
            at += 1
        elif tag == 4:
            pairs, at = _pairs(raw, at)
            values.append(pairs)
        else:
            raise ValueError(f"unknown tag {tag}")
    return tuple(values)


def _pairs(raw: bytes, at: int) -> tuple[dict[bytes, bytes], int]:
    (count,) = struct.unpack_from("<I", raw, at)
    at += 4
    pairs: dict[bytes, bytes] = {}
    for _ in range(count):
        strings = []
        for _ in range(2):
            (size,) = struct.unpack_from("<I", raw, at)
            if at + 4 + size > len(raw):
                raise ValueError("truncated")
            strings.append(raw[at + 4 : at + 4 + size])
            at += 4 + size
        pairs[strings[0]] = strings[1]
    return pairs, at


class WasmRuntime(Runtime):
    name = "wasm"
    version = LUA_VERSION

    def __init__(self, memory_limit: int, data_dir: str | None = None) -> None:
        self._engine, module = load()
        self._data = DataDir(data_dir)
        self._sink: EventSink | None = None
        self._limits = Limits()
        self._output_bytes = 0
        self._memory_limit = memory_limit
        self._lock = threading.Lock()
        self._armed = False
        self._reason: StopKind | None = None
        self._delivered = False
        self._reply = b""
        self._store = wasmtime.Store(self._engine)
        self._linear_max = self._linear_limit(memory_limit)
        self._store.set_limits(memory_size=self._linear_max)
        self._wasi = WasiHost(
            WasiConfig(
                stdout=lambda data: self._write(b"stdout", data),
                stderr=lambda data: self._write(b"stderr", data),
                args=[b"lua"],
                should_stop=lambda: self._reason is not None,
            )
        )
        linker = wasmtime.Linker(self._engine)
        self._wasi.link(linker, module)
        linker.define_func(
            "safekernel", "host", wasmtime.FuncType([_I32] * 3, [_I32]), self._host, True
        )
        linker.define_func(
            "safekernel", "reply", wasmtime.FuncType([_I32] * 2, []), self._give_reply, True
        )
        self._install_deadline_callback()
        self._store.set_epoch_deadline(1)
        instance = linker.instantiate(self._store, module)
        exports = instance.exports(self._store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        self._fn: dict[str, wasmtime.Func] = {}
        for name in ("_initialize", *_EXPORTS):
            func = exports[name]
            assert isinstance(func, wasmtime.Func)
            self._fn[name] = func
        self._fn["_initialize"](self._store)
        if self._fn["sk_init"](self._store) != CALL_OK:
            raise GuestLost("the Lua guest could not start")
        for name, source in (("boot", BOOT), *SOURCES.items()):
            with (
                self._buffer(name.encode()) as (name_ptr, name_len),
                self._buffer(source) as (
                    ptr,
                    size,
                ),
            ):
                self._fn["sk_source"](self._store, name_ptr, name_len, ptr, size)
        caps = "return {" + ", ".join(f"{k} = {v}" for k, v in CAPS.items()) + "}"
        with self._buffer(caps.encode()) as (ptr, size):
            if self._fn["sk_boot"](self._store, ptr, size) != CALL_OK:
                raise GuestLost(f"the Lua guest could not boot: {text(self._out())}")

    @staticmethod
    def _linear_limit(lua_limit: int) -> int:
        return GUEST_MEMORY_FACTOR * lua_limit + GUEST_HEADROOM

    # -- moving bytes in and out ------------------------------------------------------------
    @contextmanager
    def _buffer(self, data: bytes) -> Iterator[tuple[int, int]]:
        ptr = int(self._fn["sk_alloc"](self._store, len(data)))
        if ptr == 0:
            raise MemoryError("the guest has no memory left for the request")
        try:
            self._memory.write(self._store, data, ptr)
            yield ptr, len(data)
        finally:
            self._fn["sk_free"](self._store, ptr)

    def _out(self) -> bytes:
        ptr = int(self._fn["sk_out_ptr"](self._store)) & 0xFFFFFFFF
        size = int(self._fn["sk_out_len"](self._store)) & 0xFFFFFFFF
        if ptr + size > self._memory.data_len(self._store):
            raise GuestLost("the guest's result lies outside its memory")
        return bytes(self._memory.read(self._store, ptr, ptr + size))

    # -- the stop ---------------------------------------------------------------------------
    def _install_deadline_callback(self) -> None:
        def on_deadline(context: Any, data: Any, delta: Any, kind: Any) -> int:
            # on the cell's thread, inside the guest: never raise (that would trap the guest)
            try:
                delta[0] = 1
                kind[0] = UPDATE_DEADLINE_CONTINUE
                if self._reason is not None and not self._delivered:
                    self._delivered = True
                    # the new deadline first, or the nested call would trap at once
                    ffi.wasmtime_context_set_epoch_deadline(context, 1)
                    self._fn["sk_interrupt"](wasmtime.StoreContext(context))
            except BaseException:
                log.exception("safekernel: delivering a stop to the guest failed")
            return 0

        self._deadline_callback = _CALLBACK_TYPE(on_deadline)
        self._deadline_finalizer = _FINALIZER_TYPE(lambda data: None)
        ffi.wasmtime_store_epoch_deadline_callback(
            self._store.ptr(), self._deadline_callback, None, self._deadline_finalizer
        )

    @contextmanager
    def _armed_for(self, count: int, instructions: int = 0) -> Iterator[None]:
        with self._lock:
            self._armed, self._reason, self._delivered = True, None, False
        self._store.set_epoch_deadline(1)
        try:
            if self._fn["sk_arm"](self._store, count, instructions, count) != CALL_OK:
                raise GuestLost(f"the guest could not arm its limits: {text(self._out())}")
            yield
        finally:
            with self._lock:
                self._armed = False
            self._fn["sk_disarm"](self._store)

    def _request(self, reason: StopKind) -> None:
        with self._lock:
            if not self._armed or self._reason is not None:
                return
            self._reason = reason
        # the guest meets its deadline at its next loop or call: see the module's docstring
        self._engine.increment_epoch()

    def interrupt(self, reason: StopKind) -> None:
        self._request(reason)

    def walls(self) -> list[LayerStatus]:
        limit = self._linear_limit(self._memory_limit) // (1024 * 1024)
        return [
            LayerStatus(
                "wasm",
                LayerState.ACTIVE,
                f"Lua in a WebAssembly instance (wasmtime {WASMTIME_VERSION}): linear memory "
                f"capped at {limit} MB, Lua's own {self._memory_limit // (1024 * 1024)} MB "
                "(or the cell's %memory); no imports but our WASI layer (no files, sockets, "
                "environment or processes) and the kernel's output calls; time limits and "
                "interrupts by epoch deadline",
            )
        ]

    def sample(self) -> None:
        # the guest's allocator keeps the cell's peak itself (sk_peak): nothing to do here,
        # and nothing may touch the store from this thread while the guest runs
        pass

    # -- calls from the guest (safekernel.host, safekernel.reply) ---------------------------
    def _host(self, caller: wasmtime.Caller, op: int, ptr: int, size: int) -> int:
        """One request from glue.c; the payload is read with bounds checks. A malformed
        request is dropped (logged), never a host exception in the guest."""
        try:
            payload = GuestMemory(caller).read(ptr, size)
            return self._dispatch(op, payload)
        except Exception:
            log.warning("safekernel: dropped a malformed request from the guest (op %d)", op)
            return NO_REPLY

    def _give_reply(self, caller: wasmtime.Caller, ptr: int, size: int) -> None:
        try:
            GuestMemory(caller).write(ptr, self._reply[: size & 0xFFFFFFFF])
        except Exception:
            log.warning("safekernel: the guest asked for its reply at a bad address")
        self._reply = b""

    def _answer(self, ok: bool, payload: bytes) -> int:
        self._reply = (b"\x01" if ok else b"\x00") + payload
        return len(self._reply)

    def _dispatch(self, op: int, payload: bytes) -> int:
        if op in (OP_STDOUT, OP_STDERR):
            self._write(b"stdout" if op == OP_STDOUT else b"stderr", payload)
        elif op == OP_REQUEST_STOP:
            self._request(StopKind(text(payload)))
        elif op == OP_DISPLAY:
            self._display(payload)
        elif op == OP_CLEAR:
            if self._sink is not None and self._reason is None:
                self._sink.clear_output(payload[:1] == b"\x01")
        elif op == OP_INPUT:
            return self._input(payload[1:].decode("utf-8", "replace"), payload[:1] == b"\x01")
        elif op in (OP_DATA_LIST, OP_DATA_READ):
            name = text(payload[1:]) if payload[:1] == b"\x01" else None
            try:
                if op == OP_DATA_READ:
                    return self._answer(True, self._data.read(name or ""))
                return self._answer(True, b"\0".join(n.encode() for n in self._data.list(name)))
            except DataError as exc:
                return self._answer(False, str(exc).encode())
        return NO_REPLY

    def _write(self, name: bytes, data: bytes) -> None:
        if self._sink is None or self._reason is not None:
            return
        room = self._limits.output - self._output_bytes
        self._output_bytes += len(data)
        if len(data) > room:
            if room > 0:
                self._sink.stream(text(name), text(data[:room]))
            self._request(StopKind.OUTPUT)
            return
        self._sink.stream(text(name), text(data))

    def _display(self, payload: bytes) -> None:
        if self._sink is None or self._reason is not None:
            return
        update, width, height, id_size = struct.unpack_from("<iiiI", payload)
        at = 16
        ident = None
        if id_size != 0xFFFFFFFF:
            ident = text(payload[at : at + id_size])
            at += id_size
        data = bundle(_pairs(payload, at)[0])
        size = {k: v for k, v in (("width", width), ("height", height)) if v >= 0}
        metadata = {mime: size for mime in data if mime in BINARY_MIME} if size else {}
        self._sink.display(data, metadata, ident, bool(update))

    def _input(self, prompt: str, password: bool) -> int:
        if self._sink is None:
            return self._answer(False, b"no cell is running")
        try:
            value = self._sink.input(prompt, password)
        except SafeKernelError as exc:
            return self._answer(False, str(exc).encode())
        return self._answer(True, value.encode("utf-8", errors="surrogateescape"))

    # -- Runtime ----------------------------------------------------------------------------
    def after_fork(self, seed: bytes) -> None:
        # every worker starts as a copy of the zygote's instance: reseed math.random
        high = int.from_bytes(seed[:8], "little", signed=True)
        low = int.from_bytes(seed[8:16], "little", signed=True)
        self._guarded("sk_randomseed", high, low)

    def _guarded(self, name: str, *args: Any) -> Any:
        try:
            return self._fn[name](self._store, *args)
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestExit) as exc:
            self._lost(exc)

    def _lost(self, exc: BaseException) -> NoReturn:
        # the instance is unusable: end the worker now, the kernel reports it as lost
        log.error("safekernel: the wasm guest was lost: %s", exc)
        os._exit(72)

    def _call(self, which: int, *arguments: bytes) -> tuple[int, tuple[Any, ...]]:
        packed = b"".join(struct.pack("<I", len(a)) + a for a in arguments)
        try:
            with self._buffer(packed) as (ptr, size):
                status = int(self._fn["sk_call"](self._store, which, ptr, size))
                raw = self._out()
        except (wasmtime.Trap, wasmtime.WasmtimeError, GuestExit, GuestLost) as exc:
            self._lost(exc)
        if status == CALL_OK:
            try:
                return status, _values(raw)
            except (ValueError, struct.error) as exc:
                self._lost(exc)
        return status, (raw,)

    def execute(self, code: str, limits: Limits, sink: EventSink) -> CellOutcome:
        self._sink, self._limits, self._output_bytes = sink, limits, 0
        # never lowered: the memory never shrinks, and a heap with no room left to grow could
        # not serve some sizes any more (GUEST_MEMORY_FACTOR); Lua's count caps each cell
        self._linear_max = max(self._linear_max, self._linear_limit(limits.memory))
        self._store.set_limits(memory_size=self._linear_max)
        self._guarded("sk_set_limit", limits.memory)
        self._guarded("sk_peak_reset")
        step = min(limits.instructions, BUDGET_STEP) if limits.instructions else 0
        started, cpu_started = time.perf_counter(), time.process_time()
        with self._armed_for(step, limits.instructions):
            status, outcome = self._call(RUN, code.encode("utf-8", errors="surrogateescape"))
        self._sink = None
        usage = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "memory_bytes": float(self._guarded("sk_used")),
            "peak_memory_bytes": float(self._guarded("sk_peak")),
        }
        # sandbox.lua's count (its budget's hook), as in `lua`; -1: the guest could not say
        used = int(self._guarded("sk_instructions_used"))
        if used >= 0:
            usage["instructions"] = float(used)
        reason = self._reason
        if reason is None and (status == CALL_MEMORY or is_memory_error(outcome)):
            self._guarded("sk_gc")
            reason = StopKind.MEMORY
        if reason is not None:
            error = CellError(*limit_message(reason, limits, state_kept=True), [])
            return CellOutcome(None, error, usage=usage, stop=reason)
        if status != CALL_OK:
            message = text(outcome[0]) if outcome else ""
            return CellOutcome(None, CellError("InternalError", message, []), usage=usage)
        return CellOutcome(*interpret(outcome), usage=usage)

    # Editor requests never run user code and never cost the session (as in `lua`): the
    # name is found by a bounded scan, the Lua side reads tables raw in hookable loops, and a
    # request that is stopped or runs out of memory answers empty, state kept.
    def _editor_call(self, which: int, *arguments: str) -> tuple[Any, ...] | None:
        encoded = [a.encode("utf-8", errors="replace") for a in arguments]
        with self._armed_for(0):
            status, values = self._call(which, *encoded)
        return values if status == CALL_OK else None

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        cursor_pos = max(0, min(cursor_pos, len(code)))
        empty = {**NO_MATCHES, "cursor_start": cursor_pos, "cursor_end": cursor_pos}
        name = name_before(code, cursor_pos)
        values = self._editor_call(COMPLETE, *name) if name is not None else None
        if name is None or not values:
            return empty
        names = [m for m in text(values[0]).split("\n") if m]
        return {**empty, "matches": names, "cursor_start": cursor_pos - len(name[2])}

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        cursor_pos = max(0, min(cursor_pos, len(code)))
        # the name under the cursor, else the function whose call the cursor is in
        for name in dict.fromkeys((name_at(code, cursor_pos), call_name(code, cursor_pos))):
            values = self._editor_call(INSPECT, name) if name else None
            if values and values[0] is not None:
                found = text(values[0])
                return {
                    "status": "ok",
                    "found": True,
                    "data": {"text/plain": found},
                    "metadata": {},
                }
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}

    def is_complete(self, code: str) -> dict[str, Any]:
        too_long = len(code) > MAX_IS_COMPLETE_CHARS
        values = None if too_long else self._editor_call(IS_COMPLETE, code)
        if not values:
            return {"status": "unknown"}
        status = text(values[0])
        if status != "incomplete":
            return {"status": status, "indent": ""}
        counted = block_depth(code) if len(code) <= MAX_INDENT_SCAN else 1
        return {"status": status, "indent": "  " * min(MAX_INDENT_DEPTH, max(0, counted))}
