"""Tests for crash-safe file writes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fuzzer.trace.atomic import atomic_open, write_atomic


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_bytes_and_text(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_atomic(path, "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    assert leftovers(tmp_path) == []


def test_text_mode_writes_lf_and_utf8(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with atomic_open(path) as f:
        f.write("a\nb\n")
    assert path.read_bytes() == b"a\nb\n"


def test_error_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as f:
        f.write("half of the new")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_error_on_a_new_file_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.bin"
    with pytest.raises(KeyboardInterrupt), atomic_open(path, "wb") as f:
        f.write(b"x")
        raise KeyboardInterrupt
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_file_only_appears_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    with atomic_open(path) as f:
        f.write("data")
        f.flush()
        assert not path.exists()
    assert path.read_text() == "data"


def test_permissions_follow_umask_or_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "perm.txt"
    write_atomic(path, "x")
    # a new file gets what open() gives (0o666 & ~umask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    with atomic_open(tmp_path / "opened.txt") as f:
        f.write("x")
    assert stat.S_IMODE((tmp_path / "opened.txt").stat().st_mode) == \
        stat.S_IMODE(plain.stat().st_mode)
    path.chmod(0o640)
    write_atomic(path, "y")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_bad_arguments_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "a"):
        pass
    with pytest.raises(LookupError), atomic_open(tmp_path / "x", "w", encoding="no-such"):
        pass
    assert list(tmp_path.iterdir()) == []
