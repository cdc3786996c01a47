"""The WASM wall itself: the guest's calls to the host with bad pointers and lengths, a guest
trap, invalid UTF-8 output, memory growth past the limit, the compiled-code cache, and the
`safe-wasm` kernel's own face (%sandbox names the wall). The shared suites (execute, rich
output, editor, input, interrupt, limits, attacks) run against this runtime too."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from safekernel.limits import Limits
from safekernel.runtimes.wasm import build
from safekernel.runtimes.wasm.runtime import OP_DISPLAY, OP_INPUT, OP_STDOUT, WasmRuntime
from tests.conftest import Kernel, start_kernel, wait_gone

MIB = 1024 * 1024
PAGE = 65536


class Sink:
    def __init__(self) -> None:
        self.streams: list[tuple[str, str]] = []
        self.displays: list[dict[str, Any]] = []

    def stream(self, name: str, text: str) -> None:
        self.streams.append((name, text))

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        self.displays.append(data)

    def clear_output(self, wait: bool) -> None:
        pass

    def input(self, prompt: str, password: bool) -> str:
        return "typed"


@pytest.fixture(scope="module")
def guest() -> WasmRuntime:
    return WasmRuntime(64 * MIB)


# A guest of our own that calls the runtime's two imports with whatever pointers it is given.
HOSTILE = """
(module
  (import "safekernel" "host" (func $host (param i32 i32 i32) (result i32)))
  (import "safekernel" "reply" (func $reply (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "host") (param i32 i32 i32) (result i32)
    (call $host (local.get 0) (local.get 1) (local.get 2)))
  (func (export "reply") (param i32 i32) (call $reply (local.get 0) (local.get 1)))
)
"""


class Hostile:
    """The runtime's real host functions, linked into HOSTILE instead of the Lua guest."""

    def __init__(self, runtime: WasmRuntime) -> None:
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        i32 = wasmtime.ValType.i32()
        linker.define_func(
            "safekernel", "host", wasmtime.FuncType([i32] * 3, [i32]), runtime._host, True
        )
        linker.define_func(
            "safekernel", "reply", wasmtime.FuncType([i32] * 2, []), runtime._give_reply, True
        )
        self.instance = linker.instantiate(self.store, wasmtime.Module(engine, HOSTILE))
        self.memory = self.instance.exports(self.store)["memory"]

    def call(self, name: str, *args: int) -> Any:
        return self.instance.exports(self.store)[name](self.store, *args)


@pytest.mark.parametrize(
    ("ptr", "size"),
    [(PAGE - 2, 4), (0, PAGE + 1), (-1, 4), (0, -1), (0x7FFFFFFF, 0x7FFFFFFF), (PAGE + 1, 0)],
)
def test_host_calls_with_out_of_range_memory_are_dropped(
    guest: WasmRuntime, ptr: int, size: int
) -> None:
    sink = Sink()
    guest._sink, guest._limits, guest._output_bytes = sink, Limits(), 0
    try:
        hostile = Hostile(guest)
        for op in (OP_STDOUT, OP_DISPLAY, OP_INPUT, 99):
            assert hostile.call("host", op, ptr, size) == -1
        # a reply asked for at a bad address is dropped too
        guest._reply = b"\x01secret"
        hostile.call("reply", ptr, 7 if size < 0 else size)
        assert sink.streams == []
        assert sink.displays == []
    finally:
        guest._sink = None


def test_a_malformed_display_request_is_dropped(guest: WasmRuntime) -> None:
    sink = Sink()
    guest._sink, guest._limits = sink, Limits()
    try:
        hostile = Hostile(guest)
        # claims one pair whose key runs past the payload
        payload = (0).to_bytes(4, "little") * 3 + b"\xff\xff\xff\xff" + b"\x01\0\0\0\xff\0\0\0k"
        hostile.memory.write(hostile.store, payload, 100)
        assert hostile.call("host", OP_DISPLAY, 100, len(payload)) == -1
        assert sink.displays == []
    finally:
        guest._sink = None


def test_invalid_utf8_output_is_replaced_not_fatal(guest: WasmRuntime) -> None:
    sink = Sink()
    outcome = guest.execute('print("ok\\xff\\xfe" .. string.char(0xC3))', Limits(), sink)
    assert outcome.error is None
    assert sink.streams == [("stdout", "ok\ufffd\ufffd\ufffd\n")]


def test_memory_past_the_limit_is_a_memory_error_and_the_state_stays(
    guest: WasmRuntime,
) -> None:
    limits = dataclasses.replace(Limits(), memory=16 * MIB)
    guest.execute("kept_value = 7", limits, Sink())
    bomb = guest.execute(
        "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end", limits, Sink()
    )
    assert bomb.error is not None
    assert bomb.error.ename == "MemoryError"
    assert guest.execute("return kept_value", limits, Sink()).result == {"text/plain": "7"}
    # the linear memory itself stays under its cap (Store.set_limits), whatever Lua asked for
    assert guest._memory.data_len(guest._store) <= guest._linear_max


def test_a_guest_trap_ends_the_worker() -> None:
    """A trap leaves the instance unusable: the process exits (the kernel then reports a lost
    worker); it never carries on with a broken guest or raises into the worker loop."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reports through its exit status
        try:
            runtime = WasmRuntime(16 * MIB)

            @contextmanager
            def outside(data: bytes) -> Iterator[tuple[int, int]]:
                yield 0x7FFFFFF0, 64  # the guest traps reading its argument there

            runtime._buffer = outside  # type: ignore[method-assign]
            runtime.execute("return 1", Limits(), Sink())
        finally:
            os._exit(3)  # only if the trap did not end the process
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 72


def test_a_corrupt_compiled_cache_is_rebuilt(tmp_path: Path) -> None:
    engine = wasmtime.Engine(build.engine_config())
    wasm = build.build_wasm()
    (tmp_path / wasm.name).write_bytes(wasm.read_bytes())
    build.compiled_module(engine, tmp_path)
    compiled = next(tmp_path.glob("*.cwasm"))
    data = bytearray(compiled.read_bytes())
    data[len(data) // 2] ^= 0xFF
    compiled.write_bytes(bytes(data))
    module = build.compiled_module(engine, tmp_path)
    assert any(e.name == "sk_call" for e in module.exports)
    assert compiled.read_bytes() != bytes(data)


@pytest.fixture(scope="module")
def wasm_kernel() -> Iterator[Kernel]:
    k = start_kernel(runtime="wasm")
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


def test_sandbox_magic_names_the_wasm_wall(wasm_kernel: Kernel) -> None:
    report = wasm_kernel.run("%sandbox").stdout
    wall = next(line for line in report.splitlines() if line.startswith("wasm"))
    assert "active" in wall
    assert "WebAssembly" in wall
    assert "MB" in wall
    assert "seccomp" in report


def test_kernel_info_says_webassembly(wasm_kernel: Kernel) -> None:
    wasm_kernel.kc.kernel_info()
    reply = wasm_kernel.kc.get_shell_msg(timeout=10)
    assert reply["content"]["language_info"]["name"] == "lua"
    assert "WebAssembly" in reply["content"]["banner"]


def test_a_cell_error_names_its_line(wasm_kernel: Kernel) -> None:
    run = wasm_kernel.run("local a = 1\nlocal b = nil\nreturn b.c")
    assert run.error is not None
    assert run.error["evalue"].startswith("cell:3:")
