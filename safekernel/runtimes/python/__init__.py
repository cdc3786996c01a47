"""The python runtime: CPython 3.12 compiled to WebAssembly (guest.py), run by wasmtime inside
the hardened worker, with a system interface of our own (wasi.py) and a driver inside the
guest (driver.py) that keeps one namespace across cells.

The guest is a command module: its `_start` runs the driver, which loops reading requests on
fd 0; a request is over when the driver asks for the next one. Everything the guest writes is
hostile input (see control.py).

What the zygote holds (the registry entry is `resident`): the compiled module, and one
instance of it STARTED: `hold` runs `_start` on the zygote's main thread until the driver has
imported the modules cells commonly use (driver.PRELOADED), frozen them out of its collector
and blocks in its first idle fd_read; there, inside that host call, the test modules are taken
out of the interpreter's built-in module table and the zygote's fork loop runs. A fork carries
only the calling thread, which is why it must be the guest's: each worker wakes up inside that
same fd_read with the interpreter ready, confines itself on the main thread, starts its own
threads (the worker's request loop among them) and returns into the guest, which then takes
the worker's requests on the main thread. The worker's first request carries its own random
seed and the driver reseeds `random` with it; the hash seed, fixed when the interpreter
started, is one per zygote, i.e. one per kernel (SECURITY.md says why that is acceptable).
Outside the zygote (a worker that builds its own state, or in-process use) the guest runs on a
thread of its own instead, started by after_fork, and starts its interpreter there.

Stops: the host raises the stop inside the guest by setting CPython's own signal flags in
guest memory, as a native signal handler does; the eval loop polls them and raises
KeyboardInterrupt (interrupt), TimeLimitExceeded (time) or OutputLimitExceeded (output), and
the variables survive. The flags are at the same addresses in every fork. Code stuck in one C
call never polls them: the kernel's hard deadline then ends the worker. A trap in the guest
(stack exhaustion in C, `unreachable`) ends the interpreter: the worker exits and the kernel
replaces it.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, NoReturn

import wasmtime

from safekernel.errors import SafeKernelError
from safekernel.limits import Limits, StopKind, limit_message
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime
from safekernel.runtimes.python import guest
from safekernel.runtimes.python.control import ControlParser, frame
from safekernel.runtimes.wasm.wasi import GuestExit, WasiConfig, WasiHost
from safekernel.wire.confinement import LayerState, LayerStatus

#: read once when the zygote imports this module: a hardened worker can open no file
_DRIVER = resources.files(__package__).joinpath("driver.py").read_text()
#: how long the guest may take to start its interpreter and say ready
START_TIMEOUT_S = 30.0
#: bytes the guest's in-memory /tmp may hold
TMP_BYTES = 16 * 1024 * 1024
#: the signal the guest's driver maps to each stop reason
#: (the kernel's own output stops, too many messages or too much rich output, are output stops
#: to the guest; the error and the verdict still name the limit that fired)
_SIGNALS = {
    StopKind.INTERRUPT: signal.SIGINT,
    StopKind.TIME: signal.SIGALRM,
    StopKind.OUTPUT: signal.SIGUSR1,
    StopKind.MESSAGES: signal.SIGUSR1,
    StopKind.DISPLAY: signal.SIGUSR1,
}
#: native stack for the guest's WebAssembly frames, and the guest thread's stack around it
GUEST_STACK_BYTES = 2 * 1024 * 1024 - 64 * 1024
GUEST_THREAD_STACK_BYTES = 8 * 1024 * 1024
#: is_complete of a longer cell answers "unknown" unasked: compile() runs in C, where no stop
#: reaches it, and a megabyte of statements takes it seconds (past the kernel's deadline for
#: the request, which then ends the session's worker)
MAX_IS_COMPLETE_CHARS = 128 * 1024
#: exit status of a worker whose guest died (a trap or proc_exit): the kernel replaces it
GUEST_LOST_EXIT = 75


def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    # no compiler threads: the zygote that holds the module must stay single-threaded to fork
    config.parallel_compilation = False
    # deep C recursion in the guest (nested reprs, marshal, json) needs more than wasmtime's
    # 512 KiB default before CPython's own recursion checks stop it; wasmtime caps it below
    # its async stack size (2 MiB, not configurable from Python)
    config.max_wasm_stack = GUEST_STACK_BYTES
    return wasmtime.Engine(config)


@functools.cache
def _compiled() -> tuple[wasmtime.Engine, wasmtime.Module]:
    engine = _engine()
    return engine, guest.load_module(engine, progress=True)


def prewarm() -> None:
    """In the zygote: load (or compile, once per machine) the guest before any fork."""
    _compiled()


class PythonRuntime(Runtime):
    name = "python"
    version = guest.VERSION

    def __init__(self, memory_limit: int, data_dir: str | None = None) -> None:
        engine, module = _compiled()
        self._init_host_state(memory_limit)
        self._store = wasmtime.Store(engine)
        self._store.set_limits(memory_size=memory_limit)
        self._wasi = WasiHost(
            WasiConfig(
                stdout=self._on_stdout,
                stderr=self._on_stderr,
                stdin=self._on_read,
                args=[b"python", b"-I", b"-S", b"-c", _DRIVER.encode()],
                # no host file at all: the stdlib is packed inside the module itself
                files={},
                tmp_dir="/tmp",
                tmp_bytes=TMP_BYTES,
                should_stop=self._stopping,
            )
        )
        linker = wasmtime.Linker(engine)
        self._wasi.link(linker, module)
        self._instantiate(linker, module)

    def _init_host_state(self, memory_limit: int) -> None:
        """The host side's state, before the guest is instantiated (shared with the
        scientific guest's runtime, which instantiates another module)."""
        self._memory_limit = memory_limit
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._reason: StopKind | None = None
        self._armed = False
        self._pending = b""
        self._input_prompt: tuple[str, bool] | None = None
        #: the driver said its next fd 0 read asks for the next request
        self._idle = False
        self._parser = ControlParser()
        self._sink: EventSink | None = None
        self._limits = Limits()
        self._output_bytes = 0
        #: the request's last result, error and reply frames (only the last of each is used:
        #: kept all, a cell writing result frames in a loop filled the host's memory)
        self._messages: dict[str, dict[str, Any]] = {}
        self._ready = threading.Event()
        self._dead: str | None = None
        #: the interpreter was started (here, or in the zygote this state was forked from)
        self._started = False
        #: the zygote's fork loop, called from inside the first idle read (see `hold`)
        self._serve_zygote: Callable[[], None] | None = None
        #: this worker's random seed, sent with its first request
        self._seed = b""

    def _instantiate(self, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
        self._instance = linker.instantiate(self._store, module)
        memory = self._instance.exports(self._store)["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        # wasmtime keeps a linear memory where it is (a 4 GiB reservation grows in place),
        # so this address stays valid for the stop flags written from other threads
        self._base = ctypes.addressof(memory.data_ptr(self._store).contents)

    def _remove_builtin_modules(self) -> None:
        """Take the test modules out of both copies of the built-in module table, once the
        interpreter has started (it copies the table at start) and before any cell runs.
        Called while the guest waits in fd_read, so nothing in the guest runs meanwhile."""
        size = self._memory.data_len(self._store)
        image = ctypes.string_at(self._base, size)
        for address, table in guest.pruned_inittabs(image):
            ctypes.memmove(self._base + address, table, len(table))

    def walls(self) -> list[LayerStatus]:
        return [
            LayerStatus(
                "wasm",
                LayerState.ACTIVE,
                f"CPython {guest.VERSION} in a WebAssembly instance (wasmtime): linear memory "
                f"capped at the cell's memory limit ({self._memory_limit // (1024 * 1024)} MB "
                "by default); no imports but our WASI layer (no host files, sockets, "
                "environment or processes; a 16 MB in-memory /tmp); stops raised inside the "
                "guest through CPython's signal flags",
            )
        ]

    # -- where the guest runs -------------------------------------------------------------
    def hold(self, serve: Callable[[], None]) -> NoReturn:
        """In the zygote: start the interpreter on this (the main) thread and call `serve`
        from inside its first idle fd_read (see the module's docstring). `serve` returns only
        in a forked worker; the guest then takes that worker's requests here until it ends,
        and the worker exits."""
        self._serve_zygote = serve
        self._started = True
        self._run_guest()
        if self._serve_zygote is not None:
            raise SafeKernelError(f"the python guest did not start: {self._dead}")
        self._lost()

    def after_fork(self, seed: bytes) -> None:
        """Make this state the worker's own: its first request reseeds the guest's `random`
        with `seed`. A state that was not started in the zygote starts its interpreter now,
        on a thread of its own."""
        self._seed = seed
        if not self._started:
            self._start()

    def adopt_memory_limit(self, memory_limit: int) -> None:
        # the store's limit itself is set before every request, from the cell's limits
        self._memory_limit = memory_limit

    def start_if_needed(self) -> None:
        if not self._started:
            self._start()

    def _start(self) -> None:
        self._started = True
        previous = threading.stack_size(GUEST_THREAD_STACK_BYTES)
        try:
            thread = threading.Thread(target=self._run_guest, name="guest", daemon=True)
            thread.start()
        finally:
            threading.stack_size(previous)
        if not self._ready.wait(START_TIMEOUT_S) or self._dead:
            raise SafeKernelError(f"the python guest did not start: {self._dead or 'timeout'}")

    def _enter_guest(self) -> None:
        """Run the interpreter until it ends (the command module's `_start`)."""
        start = self._instance.exports(self._store)["_start"]
        assert isinstance(start, wasmtime.Func)
        start(self._store)

    def _run_guest(self) -> None:
        try:
            self._enter_guest()
            self._dead = "the interpreter ended"
        except GuestExit as exit_:
            self._dead = str(exit_)
        except wasmtime.ExitTrap as exit_:
            self._dead = f"the guest exited with status {exit_.code}"
        except wasmtime.Trap as trap:
            self._dead = f"the guest trapped: {str(trap).splitlines()[0]}"
        except BaseException as exc:
            self._dead = f"the guest failed: {type(exc).__name__}"
        self._ready.set()
        self._finished.set()

    # -- host callbacks (guest thread) --------------------------------------------------
    def _on_stdout(self, data: bytes) -> None:
        self._stream("stdout", data.decode("utf-8", errors="replace"))

    def _on_stderr(self, data: bytes) -> None:
        for item in self._parser.feed(data):
            if isinstance(item, str):
                self._stream("stderr", item)
            else:
                self._message(item)

    def _message(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "idle":
            self._idle = True
        elif kind == "stream":
            self._stream("stderr", message["text"])
        elif kind == "input":
            self._input_prompt = (message["prompt"], message["password"])
        elif self._sink is not None and self._reason is None:
            if kind == "display":
                self._sink.display(
                    message["data"], message["metadata"], message["id"], message["update"]
                )
            elif kind == "clear":
                self._sink.clear_output(message["wait"])
            else:
                self._messages[kind] = message
        elif kind == "reply":
            self._messages[kind] = message

    def _stream(self, name: str, text: str) -> None:
        if self._sink is None or self._reason is not None or not text:
            return
        data = text.encode("utf-8", errors="replace")
        room = self._limits.output - self._output_bytes
        self._output_bytes += len(data)
        if len(data) > room:
            if room > 0:
                self._sink.stream(name, data[:room].decode("utf-8", errors="ignore"))
            self.interrupt("output")
            return
        self._sink.stream(name, text)

    def _stopping(self) -> bool:
        return self._reason is not None

    def _on_read(self, size: int) -> bytes:
        if self._idle and self._pending:
            # the driver asks for its next request with part of a frame unread: a stop landed
            # in its own reading code (an interrupt during input()); the rest is no request
            # (read as one, it was garbage: a bogus MemoryError, then a lost worker)
            self._pending = b""
        if not self._pending:
            prompt, self._input_prompt = self._input_prompt, None
            idle, self._idle = self._idle, False
            if prompt is not None:
                self._pending = frame(self._answer_input(*prompt))
            elif not idle:
                # not the driver asking for its next request (a cell reading fd 0 itself):
                # end of file, so no request is ever swallowed by a cell
                return b""
            else:
                # the guest asks for the next request: the current one is over
                self._disarm()
                if not self._ready.is_set():
                    # the first such read: the interpreter is up and waits for its first cell
                    self._remove_builtin_modules()
                    self._ready.set()
                self._finished.set()
                if self._serve_zygote is not None:
                    # in the zygote: fork workers from here; this returns in a worker only
                    serve, self._serve_zygote = self._serve_zygote, None
                    serve()
                request = self._requests.get()
                if request is None:
                    raise GuestExit(0)
                # the store is changed only on the thread that runs the guest, while the
                # guest waits here (never from the worker's thread during a call)
                self._store.set_limits(memory_size=self._memory_cap(self._limits.memory))
                self._pending = request
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _memory_cap(self, memory: int) -> int:
        """The guest's linear memory limit for a cell's memory limit (a guest that starts with
        a large pre-imported heap counts the cell's memory above it: sciruntime.py)."""
        return memory

    def _answer_input(self, prompt: str, password: bool) -> dict[str, Any]:
        if self._sink is None or self._reason is not None:
            return {"op": "interrupted"}
        try:
            value = self._sink.input(prompt, password)
        except SafeKernelError as exc:
            if self._reason is not None:
                return {"op": "interrupted"}
            return {"op": "input_reply", "error": str(exc)}
        return {"op": "input_reply", "value": value}

    # -- stops ----------------------------------------------------------------------------
    def _poke(self, address: int, value: int) -> None:
        ctypes.c_int32.from_address(self._base + address).value = value

    def _trip(self, reason: StopKind) -> None:
        """What CPython's C signal handler does: mark the signal, then the eval breaker."""
        self._poke(guest.tripped(_SIGNALS[reason]), 1)
        self._poke(guest.IS_TRIPPED, 1)
        self._poke(guest.SIGNALS_PENDING, 1)
        self._poke(guest.EVAL_BREAKER, 1)

    def _disarm(self) -> None:
        with self._lock:
            self._armed = False
            # the guest is inside fd_read (this thread): no stop left pending for later code
            for signum in _SIGNALS.values():
                self._poke(guest.tripped(signum), 0)
            self._poke(guest.IS_TRIPPED, 0)

    def interrupt(self, reason: str) -> None:
        with self._lock:
            if not self._armed or self._reason is not None:
                return
            self._reason = StopKind(reason) if reason in _SIGNALS else StopKind.INTERRUPT
            self._trip(self._reason)

    def sample(self) -> None:
        # a stopped cell that caught the exception is stopped again at its next poll
        with self._lock:
            if self._armed and self._reason is not None:
                self._trip(self._reason)

    # -- requests -------------------------------------------------------------------------
    def _run(self, request: dict[str, Any], sink: EventSink | None, limits: Limits) -> None:
        if self._dead:
            self._lost()
        self._sink, self._limits, self._output_bytes = sink, limits, 0
        self._messages = {}
        self._parser = ControlParser()
        with self._lock:
            self._reason = None
            self._armed = True
        self._finished.clear()
        if self._seed:
            # the driver reseeds before it reads the request itself
            request, self._seed = {**request, "seed": self._seed}, b""
        self._requests.put(frame(request))
        self._finished.wait()
        self._sink = None
        if self._dead:
            self._lost()

    def _lost(self) -> None:
        # the interpreter is gone (a trap or exit): this worker can run nothing more; the
        # kernel sees it end and replaces it
        os._exit(GUEST_LOST_EXIT)

    def execute(self, code: str, limits: Limits, sink: EventSink) -> CellOutcome:
        self.start_if_needed()
        started, cpu_started = time.perf_counter(), time.process_time()
        self._run({"op": "execute", "code": code}, sink, limits)
        usage = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
            "memory_bytes": float(self._memory.data_len(self._store)),
            "peak_memory_bytes": float(self._memory.data_len(self._store)),
        }
        result, error = self._interpret(limits)
        stop = self._reason
        if stop is None and error is not None and error.ename == "MemoryError":
            # the store's limit refused the guest's memory: the memory limit stopped the cell
            # (its verdict is memory-limit, as in the Lua runtimes)
            stop = StopKind.MEMORY
        return CellOutcome(result, error, usage=usage, stop=stop)

    def _interpret(self, limits: Limits) -> tuple[dict[str, Any] | None, CellError | None]:
        if self._reason is not None:
            return None, CellError(*limit_message(self._reason, limits, state_kept=True), [])
        kept = self._messages.get("result")
        result = None if kept is None else kept["data"]
        error = self._messages.get("error")
        if error is not None:
            if error["ename"] == "MemoryError":
                return None, CellError(*limit_message("memory", limits, state_kept=True), [])
            return None, CellError(error["ename"], error["evalue"], error["traceback"])
        return result, None

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.start_if_needed()
        self._run(request, None, self._limits)
        reply = self._messages.get("reply")
        if reply is not None:
            return reply["content"]  # type: ignore[no-any-return]
        if self._reason is not None:
            raise SafeKernelError("the request took too long")
        raise SafeKernelError("the guest gave no answer")

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        content = self._ask({"op": "complete", "code": code, "pos": cursor_pos})
        return _checked_completion(content, len(code))

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        content = self._ask(
            {"op": "inspect", "code": code, "pos": cursor_pos, "detail": detail_level}
        )
        data = content.get("data")
        text = data.get("text/plain") if isinstance(data, dict) else None
        if content.get("found") is not True or not isinstance(text, str):
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": text}, "metadata": {}}

    def is_complete(self, code: str) -> dict[str, Any]:
        if len(code) > MAX_IS_COMPLETE_CHARS:
            return {"status": "unknown"}
        content = self._ask({"op": "is_complete", "code": code})
        status = content.get("status")
        indent = content.get("indent")
        if status not in ("complete", "incomplete", "invalid", "unknown"):
            status = "unknown"
        return {"status": status, "indent": indent if isinstance(indent, str) else ""}


def _checked_completion(content: dict[str, Any], length: int) -> dict[str, Any]:
    matches = content.get("matches")
    start, end = content.get("cursor_start"), content.get("cursor_end")
    if not isinstance(matches, list) or not all(isinstance(m, str) for m in matches):
        matches = []
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= length):
        start = end = length
    return {
        "matches": matches[:1000],
        "cursor_start": start,
        "cursor_end": end,
        "metadata": {},
        "status": "ok",
    }
