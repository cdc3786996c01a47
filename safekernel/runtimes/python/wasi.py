"""The guest's system interface: the WASI preview1 calls CPython for WASI makes, written here.

wasmtime's own WASI starts threads that break fork and opens files on demand (denied after
Landlock), so every call the guest can make is one of these functions. Each one reads or writes
only the guest's own linear memory, checks every pointer and length the guest passes (an
out-of-range one is EFAULT, never a host error), and reaches nothing outside the process:

* stdout (fd 1) and control frames (fd 2) go to callbacks; fd 0 reads come from a callback;
* clocks and random bytes are the host's (reading them reveals nothing a cell may not know);
* there are no preopened directories, so no path the guest names reaches a host file (the
  stdlib is inside the module, served by the guest's own packed file system);
* every other call (sockets, paths, file writes, processes) answers ENOSYS or EBADF.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from typing import Any

import wasmtime

ESUCCESS, EBADF, EFAULT, EINVAL, ENOSYS, ESPIPE = 0, 8, 21, 28, 52, 70
FILETYPE_CHARACTER_DEVICE = 2
#: one fd_write/fd_read may name at most this many buffers (POSIX's IOV_MAX)
MAX_IOVS = 1024
#: poll_oneoff may carry at most this many subscriptions
MAX_SUBSCRIPTIONS = 64
_IOVEC = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I32 = wasmtime.ValType.i32()
_I64 = wasmtime.ValType.i64()


class GuestExit(Exception):
    """The guest called proc_exit."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the guest exited with status {code}")
        self.code = code


class Fault(Exception):
    """A pointer or length from the guest that is outside its memory."""


class Host:
    """The WASI functions for one instance. `write(fd, data)` gets fd 1/2 bytes, `read(size)`
    returns fd 0 bytes (blocking), `sleep(seconds)` waits (it must honour the cell's stop)."""

    def __init__(
        self,
        args: list[bytes],
        write: Callable[[int, bytes], None],
        read: Callable[[wasmtime.Caller, int], bytes],
        sleep: Callable[[float], None],
    ) -> None:
        self._args = [arg + b"\0" for arg in args]
        self._write = write
        self._read = read
        self._sleep = sleep
        self.memory: wasmtime.Memory | None = None

    # -- guest memory -------------------------------------------------------------------
    def _get(self, caller: wasmtime.Caller, address: int, size: int) -> bytes:
        memory = self.memory
        if memory is None or size < 0 or address < 0 or address + size > memory.data_len(caller):
            raise Fault
        return bytes(memory.read(caller, address, address + size))

    def _put(self, caller: wasmtime.Caller, address: int, data: bytes) -> None:
        memory = self.memory
        if memory is None or address < 0 or address + len(data) > memory.data_len(caller):
            raise Fault
        memory.write(caller, data, address)

    def _iovecs(self, caller: wasmtime.Caller, iovs: int, count: int) -> list[tuple[int, int]]:
        if not 0 <= count <= MAX_IOVS:
            raise Fault
        raw = self._get(caller, iovs, count * _IOVEC.size)
        return [_IOVEC.unpack_from(raw, i * _IOVEC.size) for i in range(count)]

    # -- the calls ------------------------------------------------------------------------
    def args_sizes_get(self, caller: wasmtime.Caller, count: int, size: int) -> int:
        self._put(caller, count, _U32.pack(len(self._args)))
        self._put(caller, size, _U32.pack(sum(map(len, self._args))))
        return ESUCCESS

    def args_get(self, caller: wasmtime.Caller, pointers: int, buffer: int) -> int:
        for index, arg in enumerate(self._args):
            self._put(caller, pointers + 4 * index, _U32.pack(buffer))
            self._put(caller, buffer, arg)
            buffer += len(arg)
        return ESUCCESS

    def environ_sizes_get(self, caller: wasmtime.Caller, count: int, size: int) -> int:
        # no environment at all: the host's is never the guest's business
        self._put(caller, count, _U32.pack(0))
        self._put(caller, size, _U32.pack(0))
        return ESUCCESS

    def environ_get(self, caller: wasmtime.Caller, pointers: int, buffer: int) -> int:
        return ESUCCESS

    def clock_res_get(self, caller: wasmtime.Caller, clock: int, result: int) -> int:
        self._put(caller, result, _U64.pack(1000))
        return ESUCCESS

    def clock_time_get(self, caller: wasmtime.Caller, clock: int, precision: int, result: int) -> int:
        now = time.time_ns() if clock == 0 else time.monotonic_ns()
        self._put(caller, result, _U64.pack(now))
        return ESUCCESS

    def random_get(self, caller: wasmtime.Caller, buffer: int, size: int) -> int:
        if not 0 <= size <= 1 << 20:
            return EINVAL
        self._put(caller, buffer, os.urandom(size))
        return ESUCCESS

    def fd_write(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, written: int) -> int:
        if fd not in (1, 2):
            return EBADF
        data = b"".join(self._get(caller, p, n) for p, n in self._iovecs(caller, iovs, count))
        self._write(fd, data)
        self._put(caller, written, _U32.pack(len(data)))
        return ESUCCESS

    def fd_read(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, got: int) -> int:
        if fd != 0:
            return EBADF
        buffers = self._iovecs(caller, iovs, count)
        room = sum(n for _, n in buffers)
        for pointer, size in buffers:  # all checked before anything is consumed
            self._get(caller, pointer, 0 if size == 0 else 1)
            if pointer + size > self.memory.data_len(caller):  # type: ignore[union-attr]
                raise Fault
        data = self._read(caller, room) if room else b""
        offset = 0
        for pointer, size in buffers:
            piece = data[offset : offset + size]
            self._put(caller, pointer, piece)
            offset += len(piece)
        self._put(caller, got, _U32.pack(len(data)))
        return ESUCCESS

    def fd_fdstat_get(self, caller: wasmtime.Caller, fd: int, result: int) -> int:
        if fd not in (0, 1, 2):
            return EBADF
        self._put(caller, result, struct.pack("<BxHxxxxQQ", FILETYPE_CHARACTER_DEVICE, 0, 0, 0))
        return ESUCCESS

    def fd_filestat_get(self, caller: wasmtime.Caller, fd: int, result: int) -> int:
        if fd not in (0, 1, 2):
            return EBADF
        stat = struct.pack("<QQBxxxxxxxQQQQQ", 0, 0, FILETYPE_CHARACTER_DEVICE, 1, 0, 0, 0, 0)
        self._put(caller, result, stat)
        return ESUCCESS

    def fd_seek(self, caller: wasmtime.Caller, fd: int, offset: int, whence: int, result: int) -> int:
        return ESPIPE if fd in (0, 1, 2) else EBADF

    def fd_prestat_get(self, caller: wasmtime.Caller, fd: int, result: int) -> int:
        return EBADF  # no preopened directory: no host path is ever reachable

    def poll_oneoff(
        self, caller: wasmtime.Caller, subscriptions: int, events: int, count: int, got: int
    ) -> int:
        """Only clock subscriptions (time.sleep): sleep for the shortest, through `sleep`,
        which wakes early when the cell is stopped."""
        if not 0 < count <= MAX_SUBSCRIPTIONS:
            return EINVAL
        raw = self._get(caller, subscriptions, 48 * count)
        shortest: tuple[int, float] | None = None
        for index in range(count):
            userdata, tag = struct.unpack_from("<QB", raw, 48 * index)
            if tag != 0:
                return ENOSYS
            _, timeout, _, flags = struct.unpack_from("<I4xQQH", raw, 48 * index + 16)
            seconds = timeout / 1e9
            if flags & 1:  # an absolute time on that clock
                seconds = timeout / 1e9 - time.monotonic()
            if shortest is None or seconds < shortest[1]:
                shortest = (userdata, seconds)
        assert shortest is not None
        self._sleep(max(0.0, shortest[1]))
        self._put(caller, events, struct.pack("<QHBxxxxxQH6x", shortest[0], 0, 0, 0, 0))
        self._put(caller, got, _U32.pack(1))
        return ESUCCESS

    def sched_yield(self, caller: wasmtime.Caller) -> int:
        return ESUCCESS

    def proc_exit(self, caller: wasmtime.Caller, code: int) -> None:
        raise GuestExit(code)

    # -- linking --------------------------------------------------------------------------
    def define(self, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
        """Give every WASI import of `module` a function: ours, or a refusal."""
        for item in module.imports:
            if item.module != "wasi_snapshot_preview1" or item.name is None:
                raise wasmtime.WasmtimeError(f"the guest imports {item.module}.{item.name}")
            kind = item.type
            assert isinstance(kind, wasmtime.FuncType)
            method = getattr(self, item.name, None)
            linker.define_func(
                item.module,
                item.name,
                kind,
                self._guarded(method) if method else _refusal(item.name, kind),
                access_caller=True,
            )

    @staticmethod
    def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(caller: wasmtime.Caller, *args: Any) -> Any:
            try:
                return method(caller, *args)
            except Fault:
                return EFAULT

        return call


def _refusal(name: str, kind: wasmtime.FuncType) -> Callable[..., Any]:
    # files other than the guest's packed stdlib, sockets, links and the rest: refused
    answer = EBADF if name.startswith("fd_") else ENOSYS

    def refuse(caller: wasmtime.Caller, *args: Any) -> int:
        return answer

    return refuse
