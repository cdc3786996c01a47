"""Stopping Lua from another thread at no cost until a stop is needed.

Any debug hook puts Lua 5.4's VM on its slow path (~2.3x slower), so no hook is installed while
a cell runs normally. To stop it, the worker's watchdog thread calls `lua_sethook` on the running
Lua thread(s) with a count of 1 (the one Lua API call documented as safe to make
asynchronously, as lua.c does from its SIGINT handler). The C hook installed is ldblib's own
`hookf`, which calls the Lua function the sandbox registered for that thread; that function
raises the stop error. The hook stays on, so a `pcall` that swallows the stop is stopped again
at its next instruction: once a limit has fired it keeps firing until the cell is over.

lupa releases the GIL while Lua runs, so the watchdog thread gets to run. lupa's module exports
the whole Lua C API; ctypes reaches `lua_sethook` and `lua_gethook` there.

`lua_sethook` writes into the `lua_State` it is given, so the switch must only ever hold the
state of a thread that is alive. The sandbox (sandbox.lua) keeps that promise: before it tells
the switch about a coroutine it adds the coroutine itself to its own `held` list (a strong
reference), and it removes it only after the switch has let go of it. Registrations are by
nesting depth, not push/pop: `enter` at depth d and `leave(d)` drop every entry at d and
deeper, so an entry whose `leave` was skipped (its coroutine died with an error while a nested
one was registered, or the leave itself ran out of memory) is dropped by the next enter or
leave at its depth or below, or at the end of the cell, and until then its thread is held.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import lupa.lua54

from safekernel.limits import StopKind

LUA_MASKCOUNT = 1 << 3

_lua = ctypes.CDLL(lupa.lua54.__file__)
_lua.lua_sethook.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_lua.lua_sethook.restype = None
_lua.lua_gethook.argtypes = [ctypes.c_void_p]
_lua.lua_gethook.restype = ctypes.c_void_p


def lua_gethook(state: int) -> int:
    return int(_lua.lua_gethook(state) or 0)


#: deepest coroutine nesting the switch records (Lua's C stack stops nesting near 200)
MAX_DEPTH = 100_000


class StopSwitch:
    """Arms, fires and disarms the asynchronous stop for one Lua state."""

    def __init__(self, main_state: int, hook_function: int) -> None:
        self._lock = threading.Lock()
        self._main = main_state
        self._hookf = hook_function
        # the lua_State of the coroutine registered at depth i + 1 (0: none); the sandbox
        # holds each of these threads in its `held` list for as long as it is here
        self._threads: list[int] = []
        self._armed = False
        self._count = 0
        self.reason: StopKind | None = None

    @contextmanager
    def armed(self, count: int) -> Iterator[None]:
        """Run a block during which request() may stop Lua; `count` is the budget hook step."""
        with self._lock:
            self._armed, self.reason, self._count = True, None, count
            self._threads.clear()
        try:
            yield
        finally:
            with self._lock:
                self._armed = False
                # the sandbox may drop its references once the block is over: let go first
                self._threads.clear()
                _lua.lua_sethook(self._main, None, 0, 0)

    @property
    def registered(self) -> int:
        """How many coroutines are registered right now (0 between cells)."""
        with self._lock:
            return sum(1 for state in self._threads if state)

    def request(self, reason: StopKind) -> None:
        """Stop the running cell (any thread). The first reason wins; idle requests are dropped."""
        with self._lock:
            if not self._armed or self.reason is not None:
                return
            self.reason = reason
            for state in (self._main, *self._threads):
                if state:
                    _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, 1)

    def enter(self, pointer: bytes, depth: int) -> None:
        """The coroutine at `pointer` is about to be resumed at `depth` (1 = resumed by the main
        thread): give it the hook it must have right now. Entries at `depth` and deeper go."""
        state = int(pointer, 16)
        if not state or not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"bad coroutine registration at depth {depth}")
        with self._lock:
            if not self._armed:
                return  # outside a cell nothing is stopped, so nothing is recorded
            del self._threads[depth - 1 :]
            self._threads.extend([0] * (depth - 1 - len(self._threads)))
            self._threads.append(state)
            if self.reason is not None:
                _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, 1)
            elif self._count:
                _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, self._count)
            else:
                _lua.lua_sethook(state, None, 0, 0)

    def leave(self, depth: int) -> None:
        """The coroutine at `depth` returned or yielded: forget it and anything deeper."""
        with self._lock:
            del self._threads[max(depth, 1) - 1 :]
