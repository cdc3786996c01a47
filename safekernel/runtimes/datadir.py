"""The read-only data directory, as the worker sees it: `list` and `read` by relative name.

This is the whole file API a cell gets (Lua's `data.list()` / `data.read(name)`). Every name is
checked here (relative, no `..`, no NUL, no symlink anywhere on the way, a size cap), and the
walk opens one component at a time below the directory with O_NOFOLLOW, so a symlink planted
inside the directory cannot lead out of it. Landlock then confines the worker to the directory
whatever this code does, and seccomp lets only read-only opens through: this module is the
clear-error layer, not the only wall.

Errors are DataError with a one-line message the user can act on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from safekernel.errors import SafeKernelError

#: the largest file `read` returns (it lands in Lua memory, under the cell's memory limit)
MAX_READ_BYTES = 8 * 1024 * 1024
#: the most entries `list` returns
MAX_LIST_ENTRIES = 10_000
#: longest name accepted (PATH_MAX)
MAX_NAME = 4096

NOT_CONFIGURED = (
    "no data directory is configured: start the kernel with --SafeKernel.data_dir=PATH "
    "to let cells read files there"
)


class DataError(SafeKernelError):
    """A data request that cannot be served; str() is the message for the user."""


def split_name(name: str) -> list[str]:
    """The components of a relative name inside the data directory, or DataError."""
    if not name or len(name) > MAX_NAME or "\0" in name:
        raise DataError(f"{name!r} is not a file name")
    if name.startswith("/"):
        raise DataError(f"{name!r}: names are relative to the data directory, not absolute")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise DataError(f"{name!r}: '..' is not allowed; names stay inside the data directory")
    return parts


class DataDir:
    """A read-only view of one directory; `root=None` means none is configured."""

    def __init__(self, root: str | None) -> None:
        self.root = root

    @contextlib.contextmanager
    def _open(self, parts: list[str], *, directory: bool) -> Iterator[int]:
        """An fd for root/parts..., refusing symlinks at every step."""
        if self.root is None:
            raise DataError(NOT_CONFIGURED)
        shown = "/".join(parts) or "."
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.root, flags | os.O_DIRECTORY)
        except OSError as exc:
            raise DataError(f"the data directory cannot be opened ({exc.strerror})") from None
        try:
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                step = flags | (os.O_DIRECTORY if directory or not last else 0)
                try:
                    child = os.open(part, step, dir_fd=fd)
                except OSError as exc:
                    link = _is_symlink(part, fd)
                    raise DataError(_explain(shown, exc, link)) from None
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def list(self, directory: str | None = None) -> list[str]:
        """Sorted names in the directory (subdirectories end in "/"); symlinks are left out."""
        parts = split_name(directory) if directory else []
        with self._open(parts, directory=True) as fd:
            names = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        continue
                    names.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
                    if len(names) > MAX_LIST_ENTRIES:
                        raise DataError(
                            f"more than {MAX_LIST_ENTRIES} entries: list a subdirectory instead"
                        )
        return sorted(names)

    def read(self, name: str) -> bytes:
        """The whole content of one regular file, at most MAX_READ_BYTES."""
        parts = split_name(name)
        if not parts:
            raise DataError(f"{name!r} is the data directory itself: name a file in it")
        with self._open(parts, directory=False) as fd:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise DataError(f"{name!r} is not a regular file")
            if info.st_size > MAX_READ_BYTES:
                raise DataError(
                    f"{name!r} has {info.st_size} bytes, over the cap of "
                    f"{MAX_READ_BYTES // (1024 * 1024)} MB"
                )
            chunks = []
            size = 0
            while chunk := os.read(fd, 1024 * 1024):
                size += len(chunk)
                if size > MAX_READ_BYTES:  # it grew while we read
                    raise DataError(f"{name!r} is over the cap of {MAX_READ_BYTES} bytes")
                chunks.append(chunk)
        return b"".join(chunks)


def _is_symlink(part: str, dir_fd: int) -> bool:
    """O_NOFOLLOW reports a link as ELOOP, or as ENOTDIR with O_DIRECTORY: ask plainly."""
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _explain(name: str, exc: OSError, link: bool) -> str:
    if link:
        return f"{name!r} goes through a symbolic link; links are not followed"
    if exc.errno == errno.ENOENT:
        return f"{name!r} does not exist in the data directory (data.list() shows what does)"
    if exc.errno == errno.ENOTDIR:
        return f"{name!r}: a part of the path is not a directory"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{name!r} cannot be read (permission denied)"
    return f"{name!r} cannot be read ({exc.strerror})"
