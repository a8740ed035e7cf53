"""Crash-safe file writes: write to a temporary file beside the target, fsync, then rename.

A reader (or a crashed run being inspected afterwards) sees either the old file or the complete
new one, never a half-written file. On error the temporary file is deleted and the target is left
untouched.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["atomic_open", "write_atomic"]

_MODES = ("w", "wb", "wt")


def _default_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give a new file (0o666 & ~umask)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


# Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_FILE_MODE = _default_mode()


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


def _target_mode(target: str) -> int:
    """Keep an existing file's permission bits; a new file gets the usual ones."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return _FILE_MODE


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
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory,
    )
    try:
        if mode == "wb":
            f: IO[Any] = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline="\n")
        with f:
            os.chmod(tmp, _target_mode(target))
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
