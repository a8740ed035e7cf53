"""Crash-safe file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crashed run being inspected afterwards) sees either the old file or the complete
new one, never a half-written file. On error the temporary file is deleted and the target is left
untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import os
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["atomic_open", "write_atomic"]

_MODES = ("w", "wb", "wt")


def _fsync_dir(directory: str) -> None:
    """Flush the directory entry of a rename to disk where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_tmp_numbers = itertools.count()


def _temporary(target: str) -> tuple[int, str]:
    """A new temporary file beside ``target`` (``.<name>.<pid>.<n>.tmp``) with the permission
    bits ``target`` has or a new file would get: (fd, path)."""
    directory, name = os.path.split(target)
    try:
        keep: int | None = os.stat(target).st_mode & 0o7777
    except OSError:
        keep = None  # a new file: open() applies the umask to 0o666, as a plain open would
    while True:
        tmp = os.path.join(directory, f".{name}.{os.getpid()}.{next(_tmp_numbers)}.tmp")
        try:
            fd = os.open(tmp, _TMP_FLAGS, 0o666)
        except FileExistsError:  # left by a killed process that had the same pid
            continue
        if keep is not None:
            try:
                os.chmod(tmp, keep)
            except BaseException:
                os.close(fd)
                os.unlink(tmp)
                raise
        return fd, tmp


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str = "utf-8",
    durable: bool = True,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it only appears, complete, when the block exits cleanly.

    ``mode`` is "w" (text, ``encoding``, "\\n" line endings on every platform) or "wb".
    The data goes to a temporary file in the same directory, which is flushed, fsynced and
    renamed over ``path`` with ``os.replace``. If the block raises, the temporary file is
    removed and ``path`` keeps its previous content (or stays absent). ``durable=False`` skips
    the fsyncs: still atomic if the process is killed, not if the machine loses power (the fuzz
    loop's corpus, written hundreds of times a second).
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_open: mode must be one of {_MODES}, not {mode!r}")
    if mode != "wb":
        codecs.lookup(encoding)  # fail before creating anything
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    fd, tmp = _temporary(target)
    try:
        if mode == "wb":
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline="\n")
        with f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(directory)


def write_atomic(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8",
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (bytes, or str encoded with ``encoding``) atomically."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_open(path, "wb", durable=durable) as f:
        f.write(data)
