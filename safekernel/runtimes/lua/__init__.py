"""The Lua runtime: Lua 5.4 through lupa, in a whitelist environment (sandbox.lua), with a REPL
layer (repl.lua), rich output and input (render.lua, display.lua), the json and plot modules,
and an asynchronous, zero-cost stop (stopswitch.py).

Pinned to `lupa.lua54`: plain `lupa.LuaRuntime` is Lua 5.5 in lupa 2.8, and LuaJIT is never
used for untrusted code (compiled loops ignore hooks; deep recursion segfaults).
"""

from __future__ import annotations

import time
from typing import Any

import lupa
from lupa import lua54

from safekernel.errors import SafeKernelError
from safekernel.limits import Limits, StopKind, limit_message
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime
from safekernel.runtimes.datadir import DataDir, DataError
from safekernel.runtimes.lua.stopswitch import StopSwitch, lua_gethook
from safekernel.runtimes.luaside import (
    BINARY_MIME,
    BUDGET_STEP,
    CAPS,
    LUA_VERSION,
    MAX_INDENT_DEPTH,
    MAX_INDENT_SCAN,
    MAX_IS_COMPLETE_CHARS,
    MODULES,
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

_SOURCES, _MODULES, _text, _bundle = SOURCES, MODULES, text, bundle
_name_at, _name_before, _call_name, _NO_MATCHES = name_at, name_before, call_name, NO_MATCHES
_block_depth = block_depth


def _deny_attributes(obj: object, name: object, is_setting: bool) -> object:
    # no Lua code may reach a Python attribute, whatever object it gets hold of
    raise AttributeError("attribute access is not allowed in the sandbox")


class LuaRuntime(Runtime):
    name = "lua"
    version = LUA_VERSION

    def __init__(self, memory_limit: int, data_dir: str | None = None) -> None:
        self._data = DataDir(data_dir)
        self._lua = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=False,
            encoding=None,
            attribute_filter=_deny_attributes,
            max_memory=memory_limit,
        )
        self._sink: EventSink | None = None
        self._limits = Limits()
        self._output_bytes = 0
        #: Lua memory high-water mark of the running cell (see sample())
        self._peak = 0
        host = self._lua.table_from(
            {
                b"write": self._write,
                b"stop_reason": self._stop_reason,
                b"request_stop": self._request_stop,
                b"enter": self._enter,
                b"leave": self._leave,
                b"data_list": self._data_list,
                b"data_read": self._data_read,
                b"display": self._display,
                b"clear_output": self._clear_output,
                b"input": self._input,
            }
        )
        caps = self._lua.table_from({k.encode(): v for k, v in CAPS.items()})
        main_state = int(self._lua.execute(b"return string.format('%p', coroutine.running())"), 16)
        # obtain ldblib's C hook (hookf): install any Lua hook once and read it back
        self._lua.execute(b"debug.sethook(function() end, 'c')")
        hook_function = lua_gethook(main_state)
        self._switch = StopSwitch(main_state, hook_function)
        self._api = self._lua.execute(_SOURCES["sandbox"], host, caps, name="@safekernel/sandbox")
        env = self._api.env
        errors = self._load_in_env("errors", env)()
        for module in _MODULES:
            env[module.encode()] = self._load_in_env(module, env)(errors)
        render = self._run_host_chunk("render", caps)
        output = self._run_host_chunk("display", self._api, caps, host, render, env.json)
        docs = self._run_host_chunk("docs")
        self._repl = self._run_host_chunk("repl", self._api, caps, render, output, docs)

    def _run_host_chunk(self, name: str, *args: Any) -> Any:
        # "@" chunk names: tracebacks show only "=" chunks (the cell's), never host code
        return self._lua.execute(_SOURCES[name], *args, name=f"@safekernel/{name}.lua")

    def _load_in_env(self, name: str, env: Any) -> Any:
        """A module compiled as text into the cell's environment (it sees only the whitelist)."""
        load = self._lua.globals().load
        compiled = load(_SOURCES[name], f"@safekernel/{name}.lua".encode(), b"t", env)
        if isinstance(compiled, tuple):  # nil, message
            raise SafeKernelError(f"the {name} module does not compile: {_text(compiled[-1])}")
        return compiled

    # -- callbacks from Lua (main thread) --------------------------------------------------
    def _write(self, name: bytes, data: bytes) -> None:
        if self._sink is None or self._switch.reason is not None:
            return
        room = self._limits.output - self._output_bytes
        self._output_bytes += len(data)
        if len(data) > room:
            if room > 0:
                self._sink.stream(_text(name), _text(data[:room]))
            self._switch.request(StopKind.OUTPUT)
            return
        self._sink.stream(_text(name), _text(data))

    def _display(
        self, table: Any, display_id: bytes | None, update: bool, width: Any, height: Any
    ) -> None:
        if self._sink is None or self._switch.reason is not None:
            return
        data = _bundle(table)
        size = {k: v for k, v in (("width", width), ("height", height)) if isinstance(v, int)}
        metadata = {mime: size for mime in data if mime in BINARY_MIME} if size else {}
        ident = None if display_id is None else _text(display_id)
        self._sink.display(data, metadata, ident, bool(update))

    def _clear_output(self, wait: bool) -> None:
        if self._sink is not None and self._switch.reason is None:
            self._sink.clear_output(bool(wait))

    def _input(self, prompt: bytes, password: bool) -> Any:
        """{true, text} or {false, why}: the Lua side raises the error at the cell's line."""
        if self._sink is None:
            return self._lua.table(False, b"no cell is running")
        try:
            value = self._sink.input(_text(prompt), bool(password))
        except SafeKernelError as exc:
            return self._lua.table(False, str(exc).encode())
        return self._lua.table(True, value.encode("utf-8", errors="surrogateescape"))

    def _stop_reason(self) -> bool:
        return self._switch.reason is not None

    def _request_stop(self, reason: bytes) -> None:
        self._switch.request(StopKind(_text(reason)))

    def _enter(self, pointer: bytes, depth: int) -> None:
        self._switch.enter(pointer, int(depth))

    def _leave(self, depth: int) -> None:
        self._switch.leave(int(depth))

    def _data_list(self, directory: bytes | None) -> object:
        try:
            names = self._data.list(_text(directory) if directory is not None else None)
        except DataError as exc:
            return self._lua.table_from([False, str(exc).encode()])
        return self._lua.table_from([True, self._lua.table_from([n.encode() for n in names])])

    def _data_read(self, name: bytes) -> object:
        try:
            content = self._data.read(_text(name))
        except DataError as exc:
            return self._lua.table_from([False, str(exc).encode()])
        return self._lua.table_from([True, content])

    # -- Runtime -------------------------------------------------------------------------
    def after_fork(self, seed: bytes) -> None:
        # every worker starts as a copy of the zygote's state: reseed, or all of them would
        # draw the same math.random sequence
        high = int.from_bytes(seed[:8], "little", signed=True)
        low = int.from_bytes(seed[8:16], "little", signed=True)
        self._lua.globals().math.randomseed(high, low)

    def interrupt(self, reason: StopKind) -> None:
        self._switch.request(reason)

    def sample(self) -> None:
        # lupa reads its allocator's counter without taking the runtime's lock, so this is
        # safe (and cheap) while the cell's thread runs Lua with the GIL released
        self._peak = max(self._peak, int(self._lua.get_memory_used()))

    def execute(self, code: str, limits: Limits, sink: EventSink) -> CellOutcome:
        self._sink, self._limits, self._output_bytes = sink, limits, 0
        self._peak = 0
        self.sample()
        self._lua.set_max_memory(limits.memory, total=True)
        step = min(limits.instructions, BUDGET_STEP) if limits.instructions else 0
        started, cpu_started = time.perf_counter(), time.process_time()
        memory_error = False
        outcome: tuple[Any, ...] = ()
        with self._switch.armed(step):
            try:
                self._api.set_budget(limits.instructions, step)
                outcome = self._repl.run(code.encode("utf-8", errors="surrogateescape"))
            except lua54.LuaMemoryError:
                memory_error = True
            except lua54.LuaError:
                # only a stop gets out of repl.run (it keeps firing past every pcall)
                pass
        used = int(self._api.end_cell())
        self._sink = None
        self.sample()
        usage = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "instructions": float(used),
            "memory_bytes": float(self._lua.get_memory_used()),
            "peak_memory_bytes": float(self._peak),
        }
        reason = self._switch.reason
        if reason is None and (memory_error or is_memory_error(outcome)):
            self._lua.gccollect()
            reason = StopKind.MEMORY
        if reason is not None:
            error = CellError(*limit_message(reason, limits, state_kept=True), [])
            return CellOutcome(None, error, usage=usage, stop=reason)
        return CellOutcome(*interpret(outcome), usage=usage)

    # Editor requests never run user code and never cost the session: the name is found by a
    # bounded scan here, the Lua side reads tables raw in hookable loops, and a request that
    # the worker's watchdog stops (or that runs out of memory) answers empty, state kept.
    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        cursor_pos = max(0, min(cursor_pos, len(code)))
        empty = {**_NO_MATCHES, "cursor_start": cursor_pos, "cursor_end": cursor_pos}
        name = _name_before(code, cursor_pos)
        if name is None:
            return empty
        path, sep, partial = (part.encode() for part in name)
        try:
            with self._switch.armed(0):
                matches = self._repl.complete(path, sep, partial)
        except lua54.LuaError:
            return empty
        names = [m for m in _text(matches).split("\n") if m]
        return {**empty, "matches": names, "cursor_start": cursor_pos - len(name[2])}

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        cursor_pos = max(0, min(cursor_pos, len(code)))
        text = None
        # the name under the cursor, else the function whose call the cursor is in
        for name in dict.fromkeys((_name_at(code, cursor_pos), _call_name(code, cursor_pos))):
            if not name:
                continue
            try:
                with self._switch.armed(0):
                    text = self._repl.inspect(name.encode())
            except lua54.LuaError:
                text = None
            if text is not None:
                break
        if text is None:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": _text(text)}, "metadata": {}}

    def is_complete(self, code: str) -> dict[str, Any]:
        if len(code) > MAX_IS_COMPLETE_CHARS:
            return {"status": "unknown"}
        try:
            with self._switch.armed(0):
                status = _text(self._repl.is_complete(code.encode("utf-8", errors="replace")))
        except lua54.LuaError:
            return {"status": "unknown"}
        if status != "incomplete":
            return {"status": status, "indent": ""}
        counted = _block_depth(code) if len(code) <= MAX_INDENT_SCAN else 1
        depth = min(MAX_INDENT_DEPTH, max(0, counted))
        return {"status": status, "indent": "  " * depth}

    @staticmethod
    def banner() -> str:
        return f"Lua {LUA_VERSION} (lupa {lupa.__version__})"
