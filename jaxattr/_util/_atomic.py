"""Atomic file writes: a killed run leaves either the old file or the new one, never half.

The pattern is the usual one: write to a temporary file in the *same directory* (so the
final rename stays on one file system), flush, ``fsync``, then ``os.replace`` onto the target
and ``fsync`` the directory so the rename itself is durable.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_path", "atomic_write"]


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open a directory; the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success move it onto ``path`` atomically.

    Use this for libraries that want a file name rather than a file object (e.g. pyarrow).
    On an exception inside the block the temporary file is removed and ``path`` is untouched.

    Args:
        path: final destination. Its directory must exist.

    Returns:
        A context manager yielding the temporary path (a ``str``).

    Raises:
        FileNotFoundError: if the directory of ``path`` does not exist.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"cannot write {path!r}: directory {directory!r} does not exist; create it first"
        )
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory
    )
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """Open a temporary file for writing and atomically replace ``path`` with it on success.

    Example::

        with atomic_write("table.csv", "w") as f:
            f.write("a,b\\n1,2\\n")

    Args:
        path: final destination. Its directory must exist.
        mode: a write mode, ``"w"``/``"wt"`` (text) or ``"wb"`` (binary). Appending makes no
            sense for an atomic replacement and is refused.
        **open_kwargs: passed to :func:`open` (e.g. ``encoding``, ``newline``).

    Returns:
        A context manager yielding the open file object.

    Raises:
        ValueError: if ``mode`` is not a write mode.
    """
    if mode not in ("w", "wt", "wb", "w+", "wb+", "w+b"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
