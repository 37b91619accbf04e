"""The index folder: layout, build lock, manifest checks and loading (building is in build.py).

Layout of ``index_dir``::

    CURRENT            name of the live data folder (replaced atomically)
    data-<id>/         manifest.json, store.sqlite, dense.faiss, sentences.npy, bm25.npz, bm25_vocab.json,
                       order.npy (each row's place in corpus order), dead.npy (rows removed by updates),
                       tokens.npy, token_scales.npy, token_spans.npy, token_ptr.npy (each sentence's
                       content-token vectors, int8: :mod:`citeqa.index.token_store`)
    embeddings.sqlite  embedding cache keyed by content hash (kept across builds)
    feedback.sqlite    user votes (never touched by a build)
    .lock              held while a build runs

A build (:mod:`citeqa.index.build`) writes a new data folder beside the live one and
then swaps ``CURRENT``: a crash at any point leaves the last good index in place.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa.config import Settings
from citeqa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    IndexReadOnlyError,
    InputError,
)
from citeqa.index.bm25 import BM25
from citeqa.index.store import ChunkStore
from citeqa.index.token_store import TokenStore, load_tokens
from citeqa.index.vectors import dense_scores, dense_search, load_dense, search_params
from citeqa.ingest.files import corpus_path, file_fingerprints
from citeqa.models import sha256_hex

FORMAT = 3  # 2: incremental updates (positions, order.npy, dead.npy, BM25 term frequencies); 3: token vectors
Progress = Callable[[str, int, int], None]


@dataclass
class LoadedIndex:
    """A loaded, read-only index: manifest, chunk store, dense and BM25 sides, sentence vectors.

    ``order[row]`` is the row's place in corpus order (ties between equal scores go by it, so an
    updated index ranks like a fresh build); ``dead`` lists rows removed by updates, which
    ``search_params`` keeps out of dense searches.
    """

    folder: Path
    manifest: dict
    store: ChunkStore
    dense: object
    bm25: BM25
    sentence_vectors: np.ndarray
    order: np.ndarray
    dead: np.ndarray
    search_params: object | None
    tokens: TokenStore

    def dense_search(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` rows nearest to ``qvec`` (inner product), best first, dead rows left out."""
        return dense_search(self.dense, qvec, k, self.search_params)

    def dense_scores(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """The inner product of ``qvec`` with each of ``rows``."""
        return dense_scores(self.dense, qvec, rows)


def current_folder(index_dir: Path) -> Path | None:
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    folder = index_dir / name
    return folder if name and folder.is_dir() else None


def read_manifest(index_dir: Path) -> dict | None:
    folder = current_folder(index_dir)
    if folder is None:
        return None
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def check_compatible(manifest: dict, settings: Settings) -> None:
    """Raise :class:`IndexIncompatibleError` unless the index fits ``settings``."""
    problems = []
    if manifest.get("format") != FORMAT:
        problems.append(f"format {manifest.get('format')} (this citeqa reads {FORMAT})")
    if manifest.get("model") != settings.model:
        problems.append(f"model {manifest.get('model')!r} (settings say {settings.model!r})")
    if manifest.get("chunking") != settings.chunking_key():
        problems.append(f"chunking {manifest.get('chunking')} (settings say {settings.chunking_key()})")
    if problems:
        raise IndexIncompatibleError(
            f"the index in {settings.index_dir} was built with another " + "; ".join(problems)
            + ". Run `citeqa index` to rebuild it."
        )


def stale_files(manifest: dict, corpus_dir: Path, now: dict[str, tuple[int, int]] | None = None) -> list[str]:
    """Corpus files added, removed or changed since the index was built (``now``: their fingerprints)."""
    seen = {**manifest.get("files", {}), **manifest.get("skipped_files", {})}
    if now is None:
        now = file_fingerprints(corpus_dir) if corpus_dir.is_dir() else {}
    changed = sorted(set(seen) ^ set(now))
    for rel, (size, mtime) in now.items():
        old = seen.get(rel)
        if old is None or (old["size"], old["mtime_ns"]) == (size, mtime):
            continue
        try:
            digest = sha256_hex(corpus_path(corpus_dir, rel).read_bytes())
        except OSError:
            digest = ""
        if digest != old["sha256"]:
            changed.append(rel)
    return sorted(set(changed))


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index folder's build lock, or raise :class:`IndexBusyError`.

    Raises :class:`InputError` when ``index_dir`` cannot be made or written (a file, no permission, read-only).
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fh = open(index_dir / ".lock", "w")  # closed by the with below
    except OSError as exc:
        if index_dir.is_dir() and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise IndexReadOnlyError(f"cannot write the index folder {index_dir} ({exc.strerror}); give --index a "
                                     "folder you can write to") from None
        why = "it is not a folder" if index_dir.exists() and not index_dir.is_dir() else exc.strerror or exc
        raise InputError(f"cannot use {index_dir} as the index folder ({why}); "
                         "give --index a folder you can write to") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(f"another `citeqa index` is building {index_dir}; try again when it ends") from exc
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_json(path: Path, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(index_dir: Path, folder: Path) -> None:
    """Make the finished build ``folder`` the live data folder."""
    live = index_dir / f"data-{uuid.uuid4().hex[:12]}"
    os.rename(folder, live)
    write_atomic(index_dir / "CURRENT", live.name + "\n")


def clean_leftovers(index_dir: Path) -> None:
    """Remove unfinished builds and data folders that are no longer live."""
    live = current_folder(index_dir)
    for p in index_dir.iterdir():
        if p.is_dir() and (p.name.startswith(".build-") or p.name.startswith("data-")) and p != live:
            shutil.rmtree(p, ignore_errors=True)


def live_manifest(settings: Settings) -> tuple[Path, dict]:
    """The live data folder and its manifest, refusing one that is missing, unreadable or built differently."""
    index_dir = settings.index_dir
    folder = current_folder(index_dir)
    if folder is None:
        raise IndexMissingError(f"no index in {index_dir}: run `citeqa index` to build it")
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"the index manifest in {folder} is unreadable ({exc}); run `citeqa index`") from exc
    check_compatible(manifest, settings)
    return folder, manifest


def load_folder(folder: Path, manifest: dict) -> LoadedIndex:
    """One index folder (a whole unsharded index, or one shard of a sharded one)."""
    store = ChunkStore(folder / "store.sqlite")
    counts = manifest.get("counts", {})
    dense = load_dense(folder / "dense.faiss", manifest.get("dimension", 0))
    bm25 = BM25.load(folder)
    try:
        sent = np.load(folder / "sentences.npy", allow_pickle=False, mmap_mode="r")
        order = np.load(folder / "order.npy", allow_pickle=False)
        dead = np.load(folder / "dead.npy", allow_pickle=False)
        tokens = load_tokens(folder)
    except (OSError, ValueError, EOFError) as exc:
        raise IndexCorruptError(f"the row files in {folder} are damaged ({exc}); run `citeqa index`") from exc
    positions = manifest.get("positions", {})
    sizes = (store.n_chunks, dense.ntotal, bm25.n_docs, len(order), store.n_sentences, len(sent), len(dead),
             tokens.n_sentences)
    rows = positions.get("chunks")
    expected = (counts.get("chunks"), rows, rows, rows, counts.get("sentences"), positions.get("sentences"),
                (rows or 0) - (counts.get("chunks") or 0), positions.get("sentences"))
    if sizes != expected:
        raise IndexCorruptError(f"the index in {folder} is inconsistent {sizes} vs {expected}; run `citeqa index`")
    return LoadedIndex(folder, manifest, store, dense, bm25, sent, order, dead, search_params(dense, dead), tokens)
