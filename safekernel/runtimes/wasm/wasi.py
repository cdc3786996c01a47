"""Our WASI preview1 layer: the whole system interface a WebAssembly guest gets.

Why our own: wasmtime's WASI (`Linker.define_wasi`) starts tokio threads at the first store that
uses it, after which a forked child's first WASI call hangs (a zygote must fork), and its
preopened directories open host files on demand, which Landlock denies after hardening. Here
every guest system call is a Python function we wrote, defined with
`Linker.define_func(..., access_caller=True)`: no thread, no host file, no socket, no process.

What a guest gets (WasiConfig): its args; an environment (empty unless given); stdout and
stderr as callbacks; stdin from a callback (EOF without one); the wall clock, a monotonic clock
and the process CPU clock; random bytes; an in-memory READ-ONLY file tree preopened as "/" (built
before hardening: the worker can open no file afterwards); optionally a capped in-memory
writable directory (e.g. /tmp); sleeping (poll_oneoff on clocks), which returns early when
`should_stop` says the cell is being stopped. Every other preview1 function the module imports
(sockets, links, timestamps, ...) answers ENOSYS.

Safety rules, applied in every function:
- Every pointer and length the guest passes is checked against its linear memory before any
  read or write (`GuestMemory`); out of range is EFAULT, never a host exception.
- A Python exception escaping a host function would trap the guest with a host traceback: each
  function runs under `_guarded`, which turns `_Errno` into its errno and any other failure into
  EIO. The one deliberate trap is `GuestExit` (proc_exit): the runtime treats it as a lost worker.
- A blocking call (poll_oneoff's sleep, a stdin read) honours `should_stop`, so a stop reaches a
  guest that waits outside its own code (where the epoch deadline cannot fire).
- Output bytes are handed over as bytes: decoding (with replacement) is the caller's.
"""

from __future__ import annotations

import ctypes
import logging
import os
import posixpath
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import wasmtime

log = logging.getLogger("safekernel.wasi")

MODULE = "wasi_snapshot_preview1"

# errno (wasi_snapshot_preview1 numbering)
SUCCESS, E2BIG, EBADF, EEXIST, EFAULT, EINVAL, EIO = 0, 1, 8, 20, 21, 28, 29
EISDIR, ENOENT, ENOSPC, ENOSYS, ENOTDIR, ENOTEMPTY, ENOTSUP = 31, 44, 51, 52, 54, 55, 58
EPERM, EROFS, ESPIPE = 63, 69, 70
# filetypes
FT_CHAR, FT_DIR, FT_REG = 2, 3, 4
# oflags, fdflags, whence
O_CREAT, O_DIRECTORY, O_EXCL, O_TRUNC = 1, 2, 4, 8
FDFLAG_APPEND = 1
WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2
# clocks
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS, CLOCK_THREAD = 0, 1, 2, 3
ALL_RIGHTS = (1 << 30) - 1
ROOT_FD = 3
#: a sleep is cut into slices this long, checking `should_stop` between them
SLEEP_SLICE_S = 0.01
#: at most this many bytes per fd_read / random_get call (the guest asks again for more)
MAX_IO = 1 << 20
#: open descriptors a guest may hold at once
MAX_FDS = 256
#: at most this many bytes per fd_write call, over all its buffers: a short write (the guest
#: writes the rest again). Without it, 1024 buffers naming the same region of linear memory
#: had the host copy 1024 times the guest's memory for one call. Above the largest control
#: frame a guest writes at once (two rich outputs at their cap, runtimes/python/control.py).
MAX_WRITE = 32 << 20
#: what each file or directory in the writable directory costs against its cap besides its
#: bytes (its name and the host's bookkeeping, as a real file system's block and inode): without
#: it, empty files or directories were free, and a loop of them filled the host's memory
TMP_ENTRY_BYTES = 4096


class GuestExit(Exception):
    """The guest called proc_exit: its instance cannot be used again."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the guest exited with status {code}")
        self.code = code


class _Errno(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


def _no_stdin(size: int) -> bytes:
    return b""


def _never() -> bool:
    return False


@dataclass
class WasiConfig:
    """What the guest may see. Callbacks run on the thread that runs the guest."""

    stdout: Callable[[bytes], None]
    stderr: Callable[[bytes], None]
    #: stdin(max_bytes) -> up to that many bytes, b"" at end of input
    stdin: Callable[[int], bytes] = _no_stdin
    args: list[bytes] = field(default_factory=lambda: [b"guest"])
    environ: list[bytes] = field(default_factory=list)
    #: the read-only tree: absolute path -> content (directories are implied by the paths)
    files: Mapping[str, bytes] = field(default_factory=dict)
    #: directories implied by `files` that stat and open report as absent: the folders between
    #: a zip on sys.path and data served beneath it, which zipimport must not see as folders
    hidden_dirs: frozenset[str] = frozenset()
    #: a writable in-memory directory (None: none), and the bytes all its files may hold
    tmp_dir: str | None = None
    tmp_bytes: int = 16 * 1024 * 1024
    #: true while the cell is being stopped: blocking calls return early
    should_stop: Callable[[], bool] = _never
    random: Callable[[int], bytes] = os.urandom


class GuestMemory:
    """The guest's linear memory during one host call, with every access bounds-checked.

    The view is taken afresh in each call: memory.grow may move the memory between calls.
    """

    def __init__(self, caller: wasmtime.Caller) -> None:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise _Errno(EFAULT)
        size = memory.data_len(caller)
        if size == 0:
            self.view = memoryview(b"")
        else:
            base = ctypes.addressof(memory.data_ptr(caller).contents)
            self.view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
        self.size = size

    def _check(self, ptr: int, length: int) -> int:
        ptr &= 0xFFFFFFFF  # i32 arguments arrive signed
        if length < 0 or ptr + length > self.size:
            raise _Errno(EFAULT)
        return ptr

    def read(self, ptr: int, length: int) -> bytes:
        ptr = self._check(ptr, length & 0xFFFFFFFF)
        return bytes(self.view[ptr : ptr + (length & 0xFFFFFFFF)])

    def write(self, ptr: int, data: bytes) -> None:
        ptr = self._check(ptr, len(data))
        self.view[ptr : ptr + len(data)] = data

    def u32(self, ptr: int) -> int:
        value: int = struct.unpack("<I", self.read(ptr, 4))[0]
        return value

    def put(self, ptr: int, fmt: str, *values: int) -> None:
        self.write(ptr, struct.pack(fmt, *values))

    def check(self, ptr: int, length: int) -> None:
        """EFAULT unless [ptr, ptr + length) is inside the memory (nothing is copied)."""
        self._check(ptr, length & 0xFFFFFFFF)

    def iovecs(self, ptr: int, count: int) -> list[tuple[int, int]]:
        count &= 0xFFFFFFFF
        if count > 1024:
            raise _Errno(EINVAL)
        raw = self.read(ptr, 8 * count)
        return [struct.unpack_from("<II", raw, 8 * i) for i in range(count)]


@dataclass
class _Open:
    """An open descriptor: a file (its bytes; a bytearray when writable) or a directory."""

    path: str
    is_dir: bool
    data: bytes | bytearray = b""
    pos: int = 0
    writable: bool = False
    append: bool = False


def _encode_list(items: list[bytes]) -> tuple[int, int]:
    return len(items), sum(len(item) + 1 for item in items)


class WasiHost:
    """One guest's WASI state. `link(linker, module)` defines every preview1 import it has."""

    def __init__(self, config: WasiConfig) -> None:
        self.config = config
        self.files: dict[str, bytes | bytearray] = dict(config.files)
        self.dirs: set[str] = {"/"}
        for path in config.files:
            parent = posixpath.dirname(path)
            while parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)
        self.tmp = posixpath.normpath(config.tmp_dir) if config.tmp_dir else None
        if self.tmp:
            self.dirs.add(self.tmp)
        self.fds: dict[int, _Open] = {ROOT_FD: _Open("/", True)}
        # What the writable directory holds against its cap, kept as it changes (never summed
        # per call): the bytes of every buffer a name or a descriptor still holds (a file
        # removed while open keeps its bytes, as POSIX's, and still counts until closed) and
        # TMP_ENTRY_BYTES per file or directory in it.
        self._held: dict[int, tuple[bytearray, int]] = {}  # id -> (buffer, references)
        self._tmp_data = 0
        self._tmp_entries = 0
        for path in [p for p in self.files if self._in_tmp(p)]:
            self.files[path] = self._hold(bytearray(self.files[path]))
            self._tmp_entries += 1
        self._tmp_entries += sum(1 for d in self.dirs if self._in_tmp(d) and d != self.tmp)
        self._started = time.monotonic_ns()

    # -- linking --------------------------------------------------------------------------
    def link(self, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
        """Define every `wasi_snapshot_preview1` function `module` imports: ours, or ENOSYS."""
        for imp in module.imports:
            if imp.module != MODULE or imp.name is None:
                continue
            ty = imp.type
            if not isinstance(ty, wasmtime.FuncType):
                raise TypeError(f"{MODULE}.{imp.name} is not a function")
            method = getattr(self, f"_wasi_{imp.name}", None)
            func = _guarded(imp.name, method if method is not None else _enosys, len(ty.results))
            linker.define_func(MODULE, imp.name, ty, func, access_caller=True)

    def reset_tmp(self) -> None:
        """Empty the writable directory and close every descriptor but the preopen."""
        if self.tmp:
            for path in [p for p in self.files if self._in_tmp(p)]:
                del self.files[path]
            self.dirs = {d for d in self.dirs if not self._in_tmp(d) or d == self.tmp}
        self.fds = {ROOT_FD: _Open("/", True)}
        self._held, self._tmp_data, self._tmp_entries = {}, 0, 0

    # -- what the writable directory holds ------------------------------------------------
    def _hold(self, data: bytearray) -> bytearray:
        """One more reference (a name or a descriptor) to a writable buffer."""
        buffer, count = self._held.get(id(data), (data, 0))
        if count == 0:
            self._tmp_data += len(data)
        self._held[id(data)] = (buffer, count + 1)
        return data

    def _release(self, data: bytes | bytearray) -> None:
        held = self._held.get(id(data))
        if held is None or held[0] is not data:
            return
        if held[1] == 1:
            del self._held[id(data)]
            self._tmp_data -= len(data)
        else:
            self._held[id(data)] = (data, held[1] - 1)

    def _tmp_used(self) -> int:
        return self._tmp_data + TMP_ENTRY_BYTES * self._tmp_entries

    def _room_for(self, more: int) -> None:
        """ENOSPC unless the writable directory can hold `more` bytes besides what it has."""
        if more > 0 and self._tmp_used() + more > self.config.tmp_bytes:
            raise _Errno(ENOSPC)

    def _resize(self, data: bytearray, size: int) -> None:
        """Cut or zero-extend a held buffer to `size` bytes, within the cap."""
        self._room_for(size - len(data))
        before = len(data)
        del data[size:]
        data.extend(bytes(size - len(data)))
        self._tmp_data += len(data) - before

    # -- args, environment, clocks, random, exit ------------------------------------------
    def _wasi_args_sizes_get(self, mem: GuestMemory, argc: int, size: int) -> int:
        mem.put(argc, "<I", _encode_list(self.config.args)[0])
        mem.put(size, "<I", _encode_list(self.config.args)[1])
        return SUCCESS

    def _wasi_args_get(self, mem: GuestMemory, argv: int, buf: int) -> int:
        return self._put_list(mem, self.config.args, argv, buf)

    def _wasi_environ_sizes_get(self, mem: GuestMemory, count: int, size: int) -> int:
        mem.put(count, "<I", _encode_list(self.config.environ)[0])
        mem.put(size, "<I", _encode_list(self.config.environ)[1])
        return SUCCESS

    def _wasi_environ_get(self, mem: GuestMemory, env: int, buf: int) -> int:
        return self._put_list(mem, self.config.environ, env, buf)

    @staticmethod
    def _put_list(mem: GuestMemory, items: list[bytes], pointers: int, buf: int) -> int:
        offset = buf & 0xFFFFFFFF
        for i, item in enumerate(items):
            mem.put(pointers + 4 * i, "<I", offset)
            mem.write(offset, item + b"\0")
            offset += len(item) + 1
        return SUCCESS

    def _wasi_clock_res_get(self, mem: GuestMemory, clock: int, out: int) -> int:
        if clock not in (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS, CLOCK_THREAD):
            return EINVAL
        mem.put(out, "<Q", 1000)
        return SUCCESS

    def _wasi_clock_time_get(self, mem: GuestMemory, clock: int, precision: int, out: int) -> int:
        # what os.time, os.clock and their kin need; the monotonic clock counts from the
        # instance's start, so it tells the guest nothing about the host's uptime
        if clock == CLOCK_REALTIME:
            now = time.time_ns()
        elif clock == CLOCK_MONOTONIC:
            now = time.monotonic_ns() - self._started
        elif clock in (CLOCK_PROCESS, CLOCK_THREAD):
            now = time.process_time_ns()
        else:
            return EINVAL
        mem.put(out, "<Q", now)
        return SUCCESS

    def _wasi_random_get(self, mem: GuestMemory, buf: int, length: int) -> int:
        length &= 0xFFFFFFFF
        mem.read(buf, length)  # bounds check first: no random bytes drawn for a bad pointer
        for start in range(0, length, MAX_IO):
            mem.write(buf + start, self.config.random(min(MAX_IO, length - start)))
        return SUCCESS

    def _wasi_proc_exit(self, mem: GuestMemory, code: int) -> int:
        raise GuestExit(code)

    def _wasi_sched_yield(self, mem: GuestMemory) -> int:
        return SUCCESS

    def _wasi_poll_oneoff(
        self, mem: GuestMemory, subs: int, events: int, count: int, out: int
    ) -> int:
        """Clock subscriptions sleep (in slices, returning early on a stop); fd subscriptions
        are ready at once (a read then blocks in the stdin callback)."""
        count &= 0xFFFFFFFF
        if count == 0 or count > 64:
            return EINVAL
        raw = mem.read(subs, 48 * count)
        mem.read(events, 32 * count)
        ready: list[tuple[int, int, int]] = []  # userdata, errno, type
        sleep_ns: int | None = None
        timers: list[tuple[int, int]] = []
        for i in range(count):
            userdata, tag = struct.unpack_from("<QB", raw, 48 * i)
            if tag == 0:
                clock, timeout, _, flags = struct.unpack_from("<IxxxxQQH", raw, 48 * i + 16)
                if flags & 1:  # absolute time on that clock
                    timeout = max(0, timeout - self._clock_now(clock))
                timers.append((userdata, timeout))
                sleep_ns = timeout if sleep_ns is None else min(sleep_ns, timeout)
            elif tag in (1, 2):
                ready.append((userdata, SUCCESS, tag))
            else:
                return EINVAL
        if not ready and sleep_ns is not None:
            self._sleep(sleep_ns)
            ready = [(u, SUCCESS, 0) for u, t in timers if t <= sleep_ns]
        for i, (userdata, errno, kind) in enumerate(ready):
            mem.write(
                events + 32 * i, struct.pack("<QHBxxxxxQHxxxxxx", userdata, errno, kind, 0, 0)
            )
        mem.put(out, "<I", len(ready))
        return SUCCESS

    def _clock_now(self, clock: int) -> int:
        if clock == CLOCK_REALTIME:
            return time.time_ns()
        if clock == CLOCK_MONOTONIC:
            return time.monotonic_ns() - self._started
        return time.process_time_ns()

    def _sleep(self, ns: int) -> None:
        end = time.monotonic() + ns / 1e9
        while not self.config.should_stop():
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, SLEEP_SLICE_S))

    # -- descriptors ----------------------------------------------------------------------
    def _open(self, fd: int) -> _Open:
        entry = self.fds.get(fd)
        if entry is None:
            raise _Errno(EBADF)
        return entry

    def _wasi_fd_write(self, mem: GuestMemory, fd: int, iovs: int, count: int, out: int) -> int:
        vectors = mem.iovecs(iovs, count)
        for p, n in vectors:
            mem.check(p, n)  # every buffer is checked before anything is written
        pieces, room = [], MAX_WRITE
        for p, n in vectors:
            if room == 0:
                break
            pieces.append(mem.read(p, min(n, room)))
            room -= len(pieces[-1])
        data = b"".join(pieces)
        if fd in (1, 2):
            (self.config.stdout if fd == 1 else self.config.stderr)(data)
        else:
            entry = self._open(fd)
            if entry.is_dir:
                return EISDIR
            if not entry.writable or not isinstance(entry.data, bytearray):
                return EBADF
            if entry.append:
                entry.pos = len(entry.data)
            end = entry.pos + len(data)
            if end > len(entry.data):
                self._resize(entry.data, end)
            entry.data[entry.pos : end] = data
            entry.pos = end
        mem.put(out, "<I", len(data))
        return SUCCESS

    def _wasi_fd_read(self, mem: GuestMemory, fd: int, iovs: int, count: int, out: int) -> int:
        vectors = mem.iovecs(iovs, count)
        for p, n in vectors:
            mem.read(p, n)  # every buffer is checked before anything is consumed
        wanted = min(MAX_IO, sum(n for _, n in vectors))
        if fd == 0:
            data = self.config.stdin(wanted)[:wanted] if wanted else b""
        elif fd in (1, 2):
            return EBADF
        else:
            entry = self._open(fd)
            if entry.is_dir:
                return EISDIR
            data = bytes(entry.data[entry.pos : entry.pos + wanted])
            entry.pos += len(data)
        offset = 0
        for p, n in vectors:
            piece = data[offset : offset + n]
            mem.write(p, piece)
            offset += len(piece)
        mem.put(out, "<I", len(data))
        return SUCCESS

    def _wasi_fd_close(self, mem: GuestMemory, fd: int) -> int:
        if fd in (0, 1, 2):
            return SUCCESS
        if fd == ROOT_FD or fd not in self.fds:
            return EBADF
        self._release(self.fds.pop(fd).data)
        return SUCCESS

    def _wasi_fd_seek(self, mem: GuestMemory, fd: int, offset: int, whence: int, out: int) -> int:
        if fd in (0, 1, 2):
            return ESPIPE
        entry = self._open(fd)
        if entry.is_dir:
            return EISDIR
        base = {WHENCE_SET: 0, WHENCE_CUR: entry.pos, WHENCE_END: len(entry.data)}.get(whence)
        if base is None or base + offset < 0:
            return EINVAL
        entry.pos = base + offset
        mem.put(out, "<Q", entry.pos)
        return SUCCESS

    def _wasi_fd_tell(self, mem: GuestMemory, fd: int, out: int) -> int:
        if fd in (0, 1, 2):
            return ESPIPE
        mem.put(out, "<Q", self._open(fd).pos)
        return SUCCESS

    def _wasi_fd_fdstat_get(self, mem: GuestMemory, fd: int, out: int) -> int:
        if fd in (0, 1, 2):
            kind, flags = FT_CHAR, FDFLAG_APPEND if fd else 0
        else:
            entry = self._open(fd)
            kind = FT_DIR if entry.is_dir else FT_REG
            flags = FDFLAG_APPEND if entry.append else 0
        mem.write(out, struct.pack("<BxHxxxxQQ", kind, flags, ALL_RIGHTS, ALL_RIGHTS))
        return SUCCESS

    def _wasi_fd_fdstat_set_flags(self, mem: GuestMemory, fd: int, flags: int) -> int:
        if fd in (0, 1, 2):
            return SUCCESS
        self._open(fd).append = bool(flags & FDFLAG_APPEND)
        return SUCCESS

    def _wasi_fd_filestat_get(self, mem: GuestMemory, fd: int, out: int) -> int:
        if fd in (0, 1, 2):
            return self._put_stat(mem, out, FT_CHAR, 0, fd + 1)
        entry = self._open(fd)
        return self._put_stat(mem, out, FT_DIR if entry.is_dir else FT_REG, len(entry.data), 0)

    def _wasi_fd_filestat_set_size(self, mem: GuestMemory, fd: int, size: int) -> int:
        entry = self._open(fd)
        if not entry.writable or not isinstance(entry.data, bytearray):
            return EBADF
        self._resize(entry.data, size & 0xFFFFFFFFFFFFFFFF)
        return SUCCESS

    def _wasi_fd_prestat_get(self, mem: GuestMemory, fd: int, out: int) -> int:
        if fd != ROOT_FD:
            return EBADF
        mem.put(out, "<BxxxI", 0, 1)
        return SUCCESS

    def _wasi_fd_prestat_dir_name(self, mem: GuestMemory, fd: int, buf: int, length: int) -> int:
        if fd != ROOT_FD:
            return EBADF
        if length & 0xFFFFFFFF < 1:
            return EINVAL
        mem.write(buf, b"/")
        return SUCCESS

    def _wasi_fd_sync(self, mem: GuestMemory, fd: int) -> int:
        self._open(fd)
        return SUCCESS

    _wasi_fd_datasync = _wasi_fd_sync

    def _wasi_fd_advise(
        self, mem: GuestMemory, fd: int, offset: int, length: int, advice: int
    ) -> int:
        self._open(fd)
        return SUCCESS

    def _wasi_fd_readdir(
        self, mem: GuestMemory, fd: int, buf: int, length: int, cookie: int, out: int
    ) -> int:
        entry = self._open(fd)
        if not entry.is_dir:
            return ENOTDIR
        length &= 0xFFFFFFFF
        mem.read(buf, length)
        records = b""
        for index, (name, is_dir) in enumerate(self._children(entry.path)):
            if index < cookie:
                continue
            encoded = name.encode()
            header = struct.pack(
                "<QQIBxxx", index + 1, 0, len(encoded), FT_DIR if is_dir else FT_REG
            )
            records += header + encoded
            if len(records) >= length:
                break
        records = records[:length]
        mem.write(buf, records)
        mem.put(out, "<I", len(records))
        return SUCCESS

    def _children(self, directory: str) -> list[tuple[str, bool]]:
        prefix = directory.rstrip("/") + "/"
        names = {
            posixpath.basename(d): True
            for d in self.dirs
            if d != "/" and posixpath.dirname(d) == directory
        }
        for path in self.files:
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                names[path[len(prefix) :]] = False
        return [(".", True), ("..", True), *sorted(names.items())]

    # -- paths ----------------------------------------------------------------------------
    def _path(self, mem: GuestMemory, fd: int, ptr: int, length: int) -> str:
        base = self._open(fd)
        if not base.is_dir:
            raise _Errno(ENOTDIR)
        if length & 0xFFFFFFFF > 4096:
            raise _Errno(EINVAL)
        raw = mem.read(ptr, length)
        if b"\0" in raw:
            raise _Errno(EINVAL)
        # there is nothing above the tree's root: ".." at the top stays at "/"
        return posixpath.normpath(posixpath.join(base.path, raw.decode("utf-8", "replace")))

    def _in_tmp(self, path: str) -> bool:
        return self.tmp is not None and (path == self.tmp or path.startswith(self.tmp + "/"))

    def _writable(self, path: str) -> None:
        if not self._in_tmp(path) or path == self.tmp:
            raise _Errno(EROFS if not self._in_tmp(path) else EPERM)

    def _put_stat(self, mem: GuestMemory, out: int, kind: int, size: int, ino: int) -> int:
        mem.write(out, struct.pack("<QQBxxxxxxxQQQQQ", 0, ino, kind, 1, size, 0, 0, 0))
        return SUCCESS

    def _wasi_path_open(
        self,
        mem: GuestMemory,
        fd: int,
        dirflags: int,
        ptr: int,
        length: int,
        oflags: int,
        rights: int,
        inheriting: int,
        fdflags: int,
        out: int,
    ) -> int:
        path = self._path(mem, fd, ptr, length)
        mem.read(out, 4)
        if len(self.fds) >= MAX_FDS:
            return 76  # ENFILE
        if path in self.config.hidden_dirs:
            return ENOENT
        # a path may be a file that other files sit under (a zip on sys.path with data beside
        # its members, as matplotlib's): opened without O_DIRECTORY, it is the file
        if path in self.dirs and (path not in self.files or oflags & O_DIRECTORY):
            if oflags & (O_CREAT | O_TRUNC) and oflags & O_EXCL:
                return EEXIST
            entry = _Open(path, True)
        else:
            if oflags & O_DIRECTORY:
                return ENOTDIR if path in self.files else ENOENT
            wants_write = bool(rights & (1 << 6)) or bool(oflags & (O_CREAT | O_TRUNC))
            exists = path in self.files
            if exists and oflags & O_CREAT and oflags & O_EXCL:
                return EEXIST
            if not exists and not oflags & O_CREAT:
                return ENOENT
            if wants_write or not exists:
                self._writable(path)
                if posixpath.dirname(path) not in self.dirs:
                    return ENOENT
                data = self.files.get(path)
                if not isinstance(data, bytearray):
                    # a new file (the only writable files are the directory's own, held)
                    self._room_for(TMP_ENTRY_BYTES)
                    data = self.files[path] = self._hold(bytearray())
                    self._tmp_entries += 1
                if oflags & O_TRUNC:
                    self._resize(data, 0)
                entry = _Open(path, False, data, 0, True, bool(fdflags & FDFLAG_APPEND))
            else:
                entry = _Open(path, False, self.files[path])
        new = next(n for n in range(ROOT_FD + 1, ROOT_FD + 2 + MAX_FDS) if n not in self.fds)
        if isinstance(entry.data, bytearray):
            self._hold(entry.data)
        self.fds[new] = entry
        mem.put(out, "<I", new)
        return SUCCESS

    def _wasi_path_filestat_get(
        self, mem: GuestMemory, fd: int, flags: int, ptr: int, length: int, out: int
    ) -> int:
        path = self._path(mem, fd, ptr, length)
        if path in self.config.hidden_dirs:
            return ENOENT
        if path in self.files:
            return self._put_stat(mem, out, FT_REG, len(self.files[path]), 0)
        if path in self.dirs:
            return self._put_stat(mem, out, FT_DIR, 0, 0)
        return ENOENT

    def _wasi_path_create_directory(self, mem: GuestMemory, fd: int, ptr: int, length: int) -> int:
        path = self._path(mem, fd, ptr, length)
        if path in self.dirs or path in self.files:
            return EEXIST
        self._writable(path)
        if posixpath.dirname(path) not in self.dirs:
            return ENOENT
        self._room_for(TMP_ENTRY_BYTES)
        self.dirs.add(path)
        self._tmp_entries += 1
        return SUCCESS

    def _wasi_path_unlink_file(self, mem: GuestMemory, fd: int, ptr: int, length: int) -> int:
        path = self._path(mem, fd, ptr, length)
        if path in self.dirs:
            return EISDIR
        if path not in self.files:
            return ENOENT
        self._writable(path)
        self._release(self.files.pop(path))
        self._tmp_entries -= 1
        return SUCCESS

    def _wasi_path_remove_directory(self, mem: GuestMemory, fd: int, ptr: int, length: int) -> int:
        path = self._path(mem, fd, ptr, length)
        if path not in self.dirs:
            return ENOTDIR if path in self.files else ENOENT
        self._writable(path)
        if len(self._children(path)) > 2:
            return ENOTEMPTY
        self.dirs.discard(path)
        self._tmp_entries -= 1
        return SUCCESS

    def _wasi_path_rename(
        self, mem: GuestMemory, fd: int, old: int, old_len: int, new_fd: int, new: int, new_len: int
    ) -> int:
        source = self._path(mem, fd, old, old_len)
        target = self._path(mem, new_fd, new, new_len)
        if source not in self.files:
            return EISDIR if source in self.dirs else ENOENT
        self._writable(source)
        self._writable(target)
        if target in self.dirs:
            return EISDIR
        if posixpath.dirname(target) not in self.dirs:
            return ENOENT
        if target == source:
            return SUCCESS
        replaced = self.files.pop(target, None)
        if replaced is not None:
            # the file it replaces loses its name (a descriptor may still hold its bytes)
            self._release(replaced)
            self._tmp_entries -= 1
        self.files[target] = self.files.pop(source)
        return SUCCESS


def _enosys(mem: GuestMemory, *args: Any) -> int:
    return ENOSYS


def _guarded(name: str, method: Callable[..., int], results: int) -> Callable[..., int | None]:
    """A host function that never lets a Python exception reach the guest (see the module's
    docstring): bad pointers are EFAULT, our own failures EIO (logged), proc_exit a trap."""

    def call(caller: wasmtime.Caller, *args: int) -> int | None:
        try:
            errno = method(GuestMemory(caller), *args)
            return errno if results else None
        except _Errno as exc:
            return exc.code
        except GuestExit:
            raise
        except Exception:
            log.exception("WASI %s failed", name)
            return EIO

    return call
