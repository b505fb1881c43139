"""Files written whole or not at all: a temporary file beside the target (name starting with
``.`` and ending in :data:`TMP_SUFFIX`), flushed and fsync'ed, then ``os.replace``'d over the
target, so a reader (or a process killed with SIGKILL) sees the old file or the new one, never
a partial one.  Used for a store's metadata, the TIFF / CSV exports and a sweep's results."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILE_MODE", "TMP_SUFFIX", "atomic_path", "atomic_write_bytes", "fsync_dir"]

#: Suffix of the temporary files (readers skip them; the next run removes leftovers).
TMP_SUFFIX = ".tmp"
#: Mode of the written files: mkstemp makes 0600 files, results are meant to be shared.
FILE_MODE = 0o644


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same-directory temp file, fsync, os.replace)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path next to ``path``; on success it is fsync'ed and replaces ``path``, on
    any error or interrupt it is removed and ``path`` stays as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("done")
    >>> p.read_text(), sorted(q.name for q in p.parent.iterdir())
    ('done', ['a.txt'])
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename into it) to disk, where the file system can."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems cannot fsync a directory
        pass
    finally:
        os.close(fd)
