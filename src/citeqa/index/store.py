"""SQLite stores: the chunk store of one built index, the embedding cache and feedback."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from citeqa.encode.tokens import PackedTokens
from citeqa.errors import IndexCorruptError
from citeqa.models import Answer, Chunk, Document, Span

SCHEMA = """
CREATE TABLE documents (path TEXT PRIMARY KEY, sha256 TEXT, format TEXT, text TEXT, pages TEXT);
CREATE TABLE chunks (row INTEGER PRIMARY KEY, id TEXT, doc TEXT, section TEXT,
                     start INTEGER, "end" INTEGER, text TEXT, sent_lo INTEGER, sent_hi INTEGER);
CREATE TABLE sentences (row INTEGER PRIMARY KEY, chunk_row INTEGER, start INTEGER, "end" INTEGER);
"""


def write_store(path: Path, docs: Sequence[Document], chunks: Sequence[Chunk]) -> None:
    """Write a new chunk store; sentence rows follow chunk order."""
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)
        _insert(con, docs, chunks, 0, 0)
        con.commit()
    finally:
        con.close()


def update_store(
    src: Path, dst: Path, removed: Iterable[str], docs: Sequence[Document], chunks: Sequence[Chunk],
    chunk_row0: int, sent_row0: int,
) -> list[int]:
    """Copy the store ``src`` to ``dst``, drop the documents ``removed`` with their chunks and sentences,
    and add ``docs``, whose ``chunks`` take rows from ``chunk_row0`` (sentences from ``sent_row0``).

    Returns the rows of all chunks now stored in corpus order (by document path, then offset), the
    order a fresh build would number them in.
    """
    shutil.copyfile(src, dst)
    con = sqlite3.connect(dst)
    try:
        if not _has_pages(con):
            con.execute("ALTER TABLE documents ADD COLUMN pages TEXT")
        removed = list(removed)
        for i in range(0, len(removed), 500):
            part = removed[i : i + 500]
            marks = ",".join("?" * len(part))
            con.execute(f"DELETE FROM documents WHERE path IN ({marks})", part)
            con.execute(f"DELETE FROM sentences WHERE chunk_row IN (SELECT row FROM chunks WHERE doc IN ({marks}))",
                        part)
            con.execute(f"DELETE FROM chunks WHERE doc IN ({marks})", part)
        _insert(con, docs, chunks, chunk_row0, sent_row0)
        con.commit()
        order = [r for (r,) in con.execute('SELECT row FROM chunks ORDER BY doc, start, "end"')]
    finally:
        con.close()
    return order


def _has_pages(con: sqlite3.Connection) -> bool:
    return any(row[1] == "pages" for row in con.execute("PRAGMA table_info(documents)"))


def _insert(con: sqlite3.Connection, docs: Sequence[Document], chunks: Sequence[Chunk], row0: int, sent0: int) -> None:
    con.executemany("INSERT INTO documents (path, sha256, format, text, pages) VALUES (?, ?, ?, ?, ?)",
                    ((d.path, d.sha256, d.format, d.text, json.dumps(d.pages) if d.pages else None) for d in docs))
    sent_rows: list[tuple[int, int, int, int]] = []
    chunk_rows = []
    for row, c in enumerate(chunks, start=row0):
        lo = sent0 + len(sent_rows)
        sent_rows.extend((lo + j, row, s.start, s.end) for j, s in enumerate(c.sentences))
        chunk_rows.append((row, c.id, c.doc, c.section, c.start, c.end, c.text, lo, sent0 + len(sent_rows)))
    con.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", chunk_rows)
    con.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?)", sent_rows)


class ChunkStore:
    """Read-only access to a built index's documents and chunks (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            pages = self._con.execute("PRAGMA page_count").fetchone()[0]
            page_size = self._con.execute("PRAGMA page_size").fetchone()[0]
            if path.stat().st_size < pages * page_size:
                raise sqlite3.DatabaseError("the file is truncated")
            self.n_chunks = self._con.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self.n_sentences = self._con.execute("SELECT count(*) FROM sentences").fetchone()[0]
            self._pages = "pages" if _has_pages(self._con) else "NULL"
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"the chunk store {path} is damaged ({exc}); run `citeqa index`") from exc

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._con.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"the chunk store {self.path} is damaged ({exc}); run `citeqa index`") from exc

    def chunks(self, rows: Iterable[int]) -> dict[int, tuple[Chunk, int, int]]:
        """``row -> (chunk, first sentence row, end sentence row)`` for the given rows."""
        rows = [int(r) for r in rows]
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        found = self._query(
            f'SELECT row, doc, section, start, "end", text, sent_lo, sent_hi FROM chunks WHERE row IN ({marks})',
            rows,
        )
        spans = self._query(
            f'SELECT chunk_row, start, "end" FROM sentences WHERE chunk_row IN ({marks}) ORDER BY row', rows
        )
        by_chunk: dict[int, list[Span]] = {}
        for r, a, b in spans:
            by_chunk.setdefault(r, []).append(Span(a, b))
        return {
            r: (Chunk(doc, sec, a, b, text, tuple(by_chunk.get(r, ()))), lo, hi)
            for r, doc, sec, a, b, text, lo, hi in found
        }

    def sentence_ranges(self, rows: Iterable[int]) -> dict[int, tuple[int, int]]:
        """``row -> (first sentence row, end sentence row)`` for the given chunk rows."""
        rows = [int(r) for r in rows]
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        found = self._query(f"SELECT row, sent_lo, sent_hi FROM chunks WHERE row IN ({marks})", rows)
        return {r: (lo, hi) for r, lo, hi in found}

    def rows_of(self, docs: Sequence[str]) -> list[tuple[int, int, int]]:
        """``(chunk row, first sentence row, end sentence row)`` of every chunk of the documents ``docs``."""
        out: list[tuple[int, int, int]] = []
        for i in range(0, len(docs), 500):
            part = list(docs[i : i + 500])
            marks = ",".join("?" * len(part))
            out += self._query(f"SELECT row, sent_lo, sent_hi FROM chunks WHERE doc IN ({marks})", part)
        return sorted(out)

    def document(self, path: str) -> Document | None:
        found = self._query(f"SELECT path, text, format, sha256, {self._pages} FROM documents WHERE path = ?", (path,))
        if not found:
            return None
        p, text, fmt, sha, pages = found[0]
        return Document(p, text, fmt, sha, pages=_pages(pages))

    def sections(self, path: str) -> list[str]:  # the section titles of a document's passages, in order
        return [s for (s,) in self._query("SELECT section FROM chunks WHERE doc = ? AND section != '' "
                                          "GROUP BY section ORDER BY MIN(start)", (path,))]

    def pages(self, paths: Iterable[str]) -> dict[str, tuple[int, ...]]:
        """The page start offsets of each of ``paths`` that has pages (PDFs), without reading any text."""
        paths = sorted(set(paths))
        if not paths or self._pages == "NULL":
            return {}
        marks = ",".join("?" * len(paths))
        found = self._query(f"SELECT path, pages FROM documents WHERE path IN ({marks}) AND pages IS NOT NULL", paths)
        return {p: _pages(pages) for p, pages in found}

    def documents(self) -> list[tuple[str, str, int]]:
        """``(path, format, length in characters)`` of every indexed document."""
        return [(p, f, n) for p, f, n in self._query("SELECT path, format, length(text) FROM documents ORDER BY path")]

    def close(self) -> None:
        with self._lock:  # never while a query of another thread runs
            self._con.close()


def _pages(value: str | None) -> tuple[int, ...]:
    try:
        got = json.loads(value) if value else []
    except ValueError as exc:
        raise IndexCorruptError(f"the page offsets in the chunk store are damaged ({exc}); run `citeqa index`") from exc
    return tuple(int(x) for x in got)


class EmbeddingCache:
    """Vectors keyed by sha256 of (model, text), kept across index builds."""

    def __init__(self, path: Path) -> None:
        self._con = sqlite3.connect(path)
        self._con.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")
        self._con.execute("CREATE TABLE IF NOT EXISTS token_rows (key TEXT PRIMARY KEY, n INTEGER, dim INTEGER, "
                          "data BLOB)")

    def get_many(self, keys: Sequence[str], dim: int | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            marks = ",".join("?" * len(part))
            for key, blob in self._con.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part):
                vec = np.frombuffer(blob, dtype=np.float32)
                if dim is None or len(vec) == dim:
                    out[key] = vec
        return out

    def put_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        self._con.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
            ((k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items),
        )
        self._con.commit()

    def get_tokens(self, keys: Sequence[str]) -> dict[str, tuple[PackedTokens, int]]:
        """Cached token vectors of one text each (int8 rows, a scale per row, spans): ``key -> (pack, i)``,
        text ``i`` of a pack that holds a few hundred texts (few objects for a big corpus)."""
        out: dict[str, tuple[PackedTokens, int]] = {}
        for i in range(0, len(keys), 500):
            part = list(keys[i : i + 500])
            marks = ",".join("?" * len(part))
            found, dim = [], None
            for key, n, d, blob in self._con.execute(
                    f"SELECT key, n, dim, data FROM token_rows WHERE key IN ({marks})", part):
                if len(blob) == n * (d + 12) and dim in (None, d):
                    dim = d
                    q = np.frombuffer(blob, dtype=np.int8, count=n * d).reshape(n, d)
                    scale = np.frombuffer(blob, dtype=np.float32, count=n, offset=n * d)
                    spans = np.frombuffer(blob, dtype=np.int32, count=2 * n, offset=n * d + 4 * n).reshape(n, 2)
                    found.append((key, PackedTokens(q, scale, spans, np.array([0, n], dtype=np.int64))))
            if found:
                pack = PackedTokens.join([p for _, p in found], dim or 0)
                out.update((key, (pack, j)) for j, (key, _) in enumerate(found))
        return out

    def put_token_blobs(self, rows: Iterable[tuple[str, int, int, bytes]]) -> None:
        """Store token vectors already in the stored layout: ``(key, tokens, dimensions, bytes)``."""
        self._con.executemany("INSERT OR REPLACE INTO token_rows VALUES (?, ?, ?, ?)", list(rows))
        self._con.commit()

    def put_tokens(self, keys: Sequence[str], pack: PackedTokens,
                   vectors: Iterable[tuple[str, np.ndarray]] = ()) -> None:
        """Store text ``i`` of ``pack`` under ``keys[i]`` (and, in the same transaction, plain ``vectors``)."""
        rows = []
        for i, key in enumerate(keys):
            q, scales, spans = pack.rows(i)
            rows.append((key, len(q), pack.q.shape[1], np.ascontiguousarray(q, np.int8).tobytes()
                         + np.ascontiguousarray(scales, np.float32).tobytes()
                         + np.ascontiguousarray(spans, np.int32).tobytes()))
        self._con.executemany("INSERT OR REPLACE INTO token_rows VALUES (?, ?, ?, ?)", rows)
        self._con.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
            ((k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in vectors),
        )
        self._con.commit()

    def close(self) -> None:
        self._con.close()


class FeedbackStore:
    """👍/👎 votes on answers, with the question, answer and citations."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(path, check_same_thread=False)
            self._create()
            self._con.execute("BEGIN IMMEDIATE")  # can this file be written? (read-only mounts say no here)
            self._con.execute("ROLLBACK")
        except (OSError, sqlite3.OperationalError):  # a read-only index folder: votes kept for this run only
            self.path: Path | None = None
            self._con = sqlite3.connect(":memory:", check_same_thread=False)
            self._create()
        else:
            self.path = path

    def _create(self) -> None:
        self._con.execute(
            "CREATE TABLE IF NOT EXISTS feedback (id INTEGER PRIMARY KEY, at REAL, vote INTEGER,"
            " question TEXT, answer TEXT, citations TEXT, comment TEXT)"
        )
        self._con.commit()

    def add(self, answer: Answer, vote: int, comment: str = "") -> int:
        """Store a vote (+1 or -1) on ``answer``; returns the row id."""
        if vote not in (1, -1):
            raise ValueError("vote must be +1 or -1")
        cites = json.dumps(answer.to_dict()["citations"], ensure_ascii=False)
        with self._lock:
            cur = self._con.execute(
                "INSERT INTO feedback (at, vote, question, answer, citations, comment) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), vote, answer.question, answer.answer, cites, comment),
            )
            self._con.commit()
            return int(cur.lastrowid or 0)

    def all(self) -> list[tuple[int, int, str, str | None, str]]:
        with self._lock:
            return self._con.execute("SELECT id, vote, question, answer, citations FROM feedback").fetchall()
