"""Our WASI preview1 layer (safekernel/runtimes/wasm/wasi.py), driven by small hand-written
guests: every pointer is checked, the file tree is read-only, /tmp is capped, proc_exit traps,
unknown calls answer ENOSYS, sleeps stop early, and no thread is started (a zygote must fork)."""

from __future__ import annotations

import os
import threading

import pytest
import wasmtime

from safekernel.runtimes.wasm import wasi

# One exported function per WASI call under test: each takes i32s and returns the errno.
WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "write") (param i32 i32 i32 i32) (result i32)
    (call $fd_write (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "read") (param i32 i32 i32 i32) (result i32)
    (call $fd_read (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "open") (param i32 i32 i32 i64 i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get 0) (local.get 1) (local.get 2)
      (local.get 3) (i64.const 0) (i32.const 0) (local.get 4)))
  (func (export "random") (param i32 i32) (result i32)
    (call $random_get (local.get 0) (local.get 1)))
  (func (export "exit") (param i32) (call $proc_exit (local.get 0)))
  (func (export "accept") (result i32)
    (call $sock_accept (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "poll") (param i32 i32 i32 i32) (result i32)
    (call $poll (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "clock") (param i32 i32) (result i32)
    (call $clock (local.get 0) (i64.const 1) (local.get 1)))
  (func (export "close") (param i32) (result i32) (call $fd_close (local.get 0)))
  (func (export "unlink") (param i32 i32) (result i32)
    (call $unlink (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "mkdir") (param i32 i32) (result i32)
    (call $mkdir (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "rename") (param i32 i32 i32 i32) (result i32)
    (call $rename (i32.const 3) (local.get 0) (local.get 1) (i32.const 3) (local.get 2)
      (local.get 3)))
)
"""
PAGE = 65536
RIGHT_WRITE = 1 << 6


class Guest:
    def __init__(self, **options: object) -> None:
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        config = wasi.WasiConfig(stdout=self.out.append, stderr=self.err.append, **options)  # type: ignore[arg-type]
        self.engine = wasmtime.Engine(wasmtime.Config())
        self.store = wasmtime.Store(self.engine)
        module = wasmtime.Module(self.engine, WAT)
        linker = wasmtime.Linker(self.engine)
        self.host = wasi.WasiHost(config)
        self.host.link(linker, module)
        self.instance = linker.instantiate(self.store, module)
        self.memory = self.instance.exports(self.store)["memory"]

    def call(self, name: str, *args: int) -> int:
        return self.instance.exports(self.store)[name](self.store, *args)

    def poke(self, ptr: int, data: bytes) -> None:
        self.memory.write(self.store, data, ptr)

    def peek(self, ptr: int, size: int) -> bytes:
        return bytes(self.memory.read(self.store, ptr, ptr + size))

    def iovec(self, at: int, ptr: int, size: int) -> None:
        self.poke(at, ptr.to_bytes(4, "little") + size.to_bytes(4, "little"))

    def path_call(self, name: str, *paths: bytes) -> int:
        """A path function (unlink, mkdir, rename) on paths placed at 1000, 1200, ..."""
        args: list[int] = []
        for i, path in enumerate(paths):
            self.poke(1000 + 200 * i, path)
            args += [1000 + 200 * i, len(path)]
        return self.call(name, *args)

    def write_bytes(self, fd: int, data: bytes) -> int:
        self.poke(4000, data)
        self.iovec(0, 4000, len(data))
        return self.call("write", fd, 0, 1, 50)

    def open(self, path: bytes, *, oflags: int = 0, write: bool = False) -> tuple[int, int]:
        self.poke(1000, path)
        errno = self.call("open", 1000, len(path), oflags, RIGHT_WRITE if write else 0, 2000)
        return errno, int.from_bytes(self.peek(2000, 4), "little")


def test_fd_write_hands_stdout_and_stderr_bytes_to_the_callbacks() -> None:
    guest = Guest()
    guest.poke(100, b"hello\xff")
    guest.iovec(0, 100, 6)
    assert guest.call("write", 1, 0, 1, 50) == wasi.SUCCESS
    assert guest.call("write", 2, 0, 1, 50) == wasi.SUCCESS
    assert guest.out == [b"hello\xff"]
    assert guest.err == [b"hello\xff"]
    assert guest.peek(50, 4) == (6).to_bytes(4, "little")


@pytest.mark.parametrize(
    ("iov_ptr", "buf_ptr", "size"),
    [
        (PAGE - 4, 100, 6),  # the iovec itself runs off the end
        (0, PAGE - 3, 6),  # the buffer runs off the end
        (0, 100, 0xFFFFFFFF),  # a huge length
        (0, 0xFFFFFFFF, 2),  # a pointer that wraps when read as signed
        (0, -16 & 0xFFFFFFFF, 16),
    ],
)
def test_out_of_range_pointers_are_efault_and_write_nothing(
    iov_ptr: int, buf_ptr: int, size: int
) -> None:
    guest = Guest()
    if iov_ptr + 8 <= PAGE:
        guest.iovec(iov_ptr, buf_ptr, size)
    assert guest.call("write", 1, iov_ptr, 1, 50) == wasi.EFAULT
    assert guest.call("read", 0, iov_ptr, 1, 50) == wasi.EFAULT
    assert guest.out == []
    # and the result pointer itself is checked too
    guest.iovec(0, 100, 1)
    assert guest.call("write", 1, 0, 1, PAGE - 2) == wasi.EFAULT
    assert guest.call("random", PAGE - 8, 16) == wasi.EFAULT
    assert guest.call("clock", 0, PAGE - 4) == wasi.EFAULT


def test_stdin_reads_from_the_callback_and_eof_without_one() -> None:
    asked: list[int] = []

    def stdin(size: int) -> bytes:
        asked.append(size)
        return b"typed line\n" * 100

    guest = Guest(stdin=stdin)
    guest.iovec(0, 100, 8)
    assert guest.call("read", 0, 0, 1, 50) == wasi.SUCCESS
    assert guest.peek(100, 8) == b"typed li"
    assert asked == [8]
    plain = Guest()
    plain.iovec(0, 100, 8)
    assert plain.call("read", 0, 0, 1, 50) == wasi.SUCCESS
    assert plain.peek(50, 4) == bytes(4)


def test_the_file_tree_is_readable_and_read_only() -> None:
    guest = Guest(files={"/lib/mod.lua": b"return 42"})
    errno, fd = guest.open(b"lib/mod.lua")
    assert errno == wasi.SUCCESS
    guest.iovec(0, 100, 64)
    assert guest.call("read", fd, 0, 1, 50) == wasi.SUCCESS
    assert guest.peek(100, 9) == b"return 42"
    assert guest.call("write", fd, 0, 1, 50) == wasi.EBADF
    assert guest.open(b"lib/mod.lua", write=True)[0] == wasi.EROFS
    assert guest.open(b"lib/new.lua", oflags=wasi.O_CREAT)[0] == wasi.EROFS
    assert guest.open(b"../../etc/passwd")[0] == wasi.ENOENT
    assert guest.open(b"/etc/passwd")[0] == wasi.ENOENT


def test_tmp_is_writable_up_to_its_cap() -> None:
    guest = Guest(tmp_dir="/tmp", tmp_bytes=wasi.TMP_ENTRY_BYTES + 100)
    errno, fd = guest.open(b"tmp/a.txt", oflags=wasi.O_CREAT, write=True)
    assert errno == wasi.SUCCESS
    guest.poke(100, b"x" * 80)
    guest.iovec(0, 100, 80)
    assert guest.call("write", fd, 0, 1, 50) == wasi.SUCCESS
    assert guest.host.files["/tmp/a.txt"] == b"x" * 80
    assert guest.call("write", fd, 0, 1, 50) == wasi.ENOSPC
    assert guest.open(b"tmp/../lib/x", oflags=wasi.O_CREAT)[0] == wasi.EROFS
    guest.host.reset_tmp()
    assert "/tmp/a.txt" not in guest.host.files


def test_a_file_removed_or_replaced_while_open_still_counts_until_closed() -> None:
    # the descriptor keeps the bytes (as POSIX's, tempfile.TemporaryFile relies on it), so they
    # count: an open file unlinked, then written, had no cap at all (the host's memory filled)
    entry = wasi.TMP_ENTRY_BYTES
    guest = Guest(tmp_dir="/tmp", tmp_bytes=entry + 100)
    errno, fd = guest.open(b"tmp/a", oflags=wasi.O_CREAT, write=True)
    assert errno == wasi.SUCCESS
    assert guest.path_call("unlink", b"tmp/a") == wasi.SUCCESS
    assert guest.write_bytes(fd, b"x" * 4000) == wasi.SUCCESS
    assert guest.write_bytes(fd, b"x" * 4000) == wasi.ENOSPC
    assert guest.call("close", fd) == wasi.SUCCESS
    # closed: the bytes are gone, and so is their share of the cap
    errno, fd = guest.open(b"tmp/b", oflags=wasi.O_CREAT, write=True)
    assert errno == wasi.SUCCESS
    assert guest.write_bytes(fd, b"y" * 100) == wasi.SUCCESS
    # a file renamed over an open one: the open one's bytes still count, until it is closed
    guest = Guest(tmp_dir="/tmp", tmp_bytes=2 * entry + 4100)
    _, fd = guest.open(b"tmp/b", oflags=wasi.O_CREAT, write=True)
    assert guest.write_bytes(fd, b"y" * 4000) == wasi.SUCCESS
    errno, other = guest.open(b"tmp/c", oflags=wasi.O_CREAT, write=True)
    assert errno == wasi.SUCCESS
    assert guest.path_call("rename", b"tmp/c", b"tmp/b") == wasi.SUCCESS
    assert guest.write_bytes(other, b"z" * 4200) == wasi.ENOSPC
    assert guest.call("close", fd) == wasi.SUCCESS
    assert guest.write_bytes(other, b"z" * 4200) == wasi.SUCCESS
    assert guest.host.files["/tmp/b"] == b"z" * 4200


def test_every_file_and_directory_in_tmp_counts_against_its_cap() -> None:
    guest = Guest(tmp_dir="/tmp", tmp_bytes=3 * wasi.TMP_ENTRY_BYTES)
    assert guest.path_call("mkdir", b"tmp/d") == wasi.SUCCESS
    assert guest.open(b"tmp/d/e", oflags=wasi.O_CREAT)[0] == wasi.SUCCESS
    assert guest.open(b"tmp/f", oflags=wasi.O_CREAT)[0] == wasi.SUCCESS
    assert guest.open(b"tmp/g", oflags=wasi.O_CREAT)[0] == wasi.ENOSPC
    assert guest.path_call("mkdir", b"tmp/h") == wasi.ENOSPC
    assert guest.path_call("unlink", b"tmp/f") == wasi.SUCCESS
    assert guest.path_call("mkdir", b"tmp/h") == wasi.SUCCESS


def test_one_write_copies_at_most_max_write_bytes() -> None:
    # 1024 buffers naming the same 64 KiB: a short write, never 1024 copies of the memory
    guest = Guest()
    for i in range(1024):
        guest.iovec(8 * i, 0, PAGE)
    assert guest.call("write", 1, 0, 1024, PAGE - 8) == wasi.SUCCESS
    written = int.from_bytes(guest.peek(PAGE - 8, 4), "little")
    assert written == wasi.MAX_WRITE < 1024 * PAGE
    assert sum(len(chunk) for chunk in guest.out) == wasi.MAX_WRITE


def test_unknown_calls_answer_enosys() -> None:
    assert Guest().call("accept") == wasi.ENOSYS


def test_proc_exit_traps_with_guest_exit() -> None:
    guest = Guest()
    with pytest.raises(wasi.GuestExit) as caught:
        guest.call("exit", 3)
    assert caught.value.code == 3


def test_random_fills_the_buffer() -> None:
    guest = Guest(random=lambda n: b"\x07" * n)
    assert guest.call("random", 100, 32) == wasi.SUCCESS
    assert guest.peek(100, 32) == b"\x07" * 32


def _clock_subscription(guest: Guest, at: int, seconds: float) -> None:
    sub = bytearray(48)
    sub[0:8] = (9).to_bytes(8, "little")  # userdata
    sub[8] = 0  # clock
    sub[16:20] = (wasi.CLOCK_MONOTONIC).to_bytes(4, "little")
    sub[24:32] = int(seconds * 1e9).to_bytes(8, "little")
    guest.poke(at, bytes(sub))


def test_a_sleep_returns_early_when_the_cell_is_stopped() -> None:
    stop = threading.Event()
    guest = Guest(should_stop=stop.is_set)
    _clock_subscription(guest, 0, 3600.0)
    threading.Timer(0.05, stop.set).start()
    assert guest.call("poll", 0, 100, 1, 200) == wasi.SUCCESS  # returned: the hour was cut short
    _clock_subscription(guest, 0, 0.001)
    stop.clear()
    assert guest.call("poll", 0, 100, 1, 200) == wasi.SUCCESS
    assert guest.peek(200, 4) == (1).to_bytes(4, "little")
    assert guest.peek(100, 8) == (9).to_bytes(8, "little")


def test_no_thread_is_started_and_a_forked_child_can_call_the_host() -> None:
    before = threading.active_count()
    guest = Guest()
    guest.poke(100, b"child")
    guest.iovec(0, 100, 5)
    assert guest.call("write", 1, 0, 1, 50) == wasi.SUCCESS
    assert threading.active_count() == before
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        os.close(read_end)
        status = guest.call("write", 1, 0, 1, 50)
        os.write(write_end, b"".join(guest.out))
        os._exit(status)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == wasi.SUCCESS
    assert os.read(read_end, 100) == b"childchild"
    os.close(read_end)
