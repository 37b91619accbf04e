"""A build that runs out of disk: named as such (exit 74), its partial output removed so the next one can run.

A full disk shows up as ``OSError(ENOSPC)``, as SQLite's "database or disk is full", or as numpy's short write
("460800 requested and 372672 written"). :func:`guard` turns each into :class:`~citeqa.errors.DiskFullError`
after removing what the failed build wrote: unfinished data folders, and the embedding-cache rows it added.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from citeqa.errors import DiskFullError
from citeqa.index.layout import clean_leftovers

CACHE = "embeddings.sqlite"
_TABLES = ("vectors", "token_rows")


def is_disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return ("disk is full" in text or "no space left" in text or ("requested and" in text and "written" in text))


def _marks(cache: Path) -> dict[str, int]:
    """The highest row id of each cache table now (rows above it are the build's own)."""
    if not cache.is_file():
        return {}
    try:
        with sqlite3.connect(cache) as con:
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return {t: con.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {t}").fetchone()[0]
                    for t in _TABLES if t in names}
    except sqlite3.Error:
        return {}


def _drop_added(cache: Path, marks: dict[str, int]) -> None:
    try:
        with sqlite3.connect(cache) as con:
            for t in _TABLES:
                con.execute(f"DELETE FROM {t} WHERE rowid > ?", (marks.get(t, 0),))
    except sqlite3.Error:
        pass  # best effort: the cache only saves work, and a later build rewrites what it needs


@contextmanager
def guard(index_dir: Path) -> Iterator[None]:
    """Run a build; on a full disk, remove its partial output and raise :class:`DiskFullError`."""
    cache = index_dir / CACHE
    marks = _marks(cache)
    try:
        yield
    except (OSError, sqlite3.OperationalError) as exc:
        if not is_disk_full(exc):
            raise
        clean_leftovers(index_dir)
        if cache.is_file():
            _drop_added(cache, marks)
        raise DiskFullError(f"disk full: cannot write the index in {index_dir} ({exc}); the partial build was "
                            "removed and the previous index still answers. Free some space and run "
                            "`citeqa index` again") from None
