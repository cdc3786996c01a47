"""The read-only data directory: `data.list()` / `data.read(name)` are the only file API a cell
has. Escapes through it are in the attack suite (tests/attacks/data_*.lua); this file covers
the API's own behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from safekernel.runtimes.datadir import MAX_READ_BYTES, DataDir, DataError, split_name
from tests.conftest import Kernel


def test_without_a_data_dir_the_api_says_none_is_configured(kernel: Kernel) -> None:
    for code in ('data.read("x.txt")', "data.list()"):
        run = kernel.run(code)
        assert run.error is not None
        assert "no data directory is configured" in run.error["evalue"]
        assert "--SafeKernel.data_dir" in run.error["evalue"]
    assert kernel.run("6 * 7").result == "42"


def test_data_read_needs_a_name(kernel: Kernel) -> None:
    run = kernel.run("data.read()")
    assert run.error is not None
    assert 'data.read("input.txt")' in run.error["evalue"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("/etc/passwd", "not absolute"),
        ("../x", "'..' is not allowed"),
        ("a/../../x", "'..' is not allowed"),
        ("a\0b", "not a file name"),
        ("", "not a file name"),
    ],
)
def test_names_outside_the_directory_are_refused(name: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        split_name(name)


def test_names_are_split_into_components() -> None:
    assert split_name("./a//b/c.txt") == ["a", "b", "c.txt"]


def test_read_and_list_inside_the_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "sub" / "b.txt").write_text("B")
    (tmp_path / "link").symlink_to(tmp_path / "a.txt")
    data = DataDir(str(tmp_path))
    assert data.list() == ["a.txt", "sub/"]
    assert data.list("sub") == ["b.txt"]
    assert data.read("sub/b.txt") == b"B"
    with pytest.raises(DataError, match="symbolic link"):
        data.read("link")
    with pytest.raises(DataError, match="does not exist"):
        data.read("missing.txt")
    with pytest.raises(DataError, match="not a regular file"):
        data.read("sub")


def test_files_over_the_cap_are_refused(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"\0" * (MAX_READ_BYTES + 1))
    with pytest.raises(DataError, match="over the cap"):
        DataDir(str(tmp_path)).read("big.bin")
