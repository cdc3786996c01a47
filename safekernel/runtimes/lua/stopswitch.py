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


class StopSwitch:
    """Arms, fires and disarms the asynchronous stop for one Lua state."""

    def __init__(self, main_state: int, hook_function: int) -> None:
        self._lock = threading.Lock()
        self._main = main_state
        self._hookf = hook_function
        # Lua threads (coroutines) being resumed right now, innermost last; each is alive
        # while it is on this stack, which is what makes touching its state safe
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
                _lua.lua_sethook(self._main, None, 0, 0)

    def request(self, reason: StopKind) -> None:
        """Stop the running cell (any thread). The first reason wins; idle requests are dropped."""
        with self._lock:
            if not self._armed or self.reason is not None:
                return
            self.reason = reason
            for state in (self._main, *self._threads):
                _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, 1)

    def enter(self, pointer: bytes) -> None:
        """A coroutine is about to be resumed: give it the hook it must have right now."""
        state = int(pointer, 16)
        with self._lock:
            self._threads.append(state)
            if self.reason is not None:
                _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, 1)
            elif self._count:
                _lua.lua_sethook(state, self._hookf, LUA_MASKCOUNT, self._count)
            else:
                _lua.lua_sethook(state, None, 0, 0)

    def leave(self) -> None:
        with self._lock:
            if self._threads:
                self._threads.pop()
