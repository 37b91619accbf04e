"""Building and loading the index folder.

Layout of ``index_dir``::

    CURRENT            name of the live data folder (replaced atomically)
    data-<id>/         manifest.json, store.sqlite, dense.faiss, sentences.npy, bm25.npz, bm25_vocab.json
    embeddings.sqlite  embedding cache keyed by content hash (kept across builds)
    feedback.sqlite    user votes (never touched by a build)
    .lock              held while a build runs

A build writes a new data folder beside the live one and then swaps
``CURRENT``: a crash at any point leaves the last good index in place.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa import __version__
from citeqa.bm25 import BM25
from citeqa.chunking import chunk_corpus
from citeqa.config import Settings
from citeqa.embed import Embedder
from citeqa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexIncompatibleError,
    IndexMissingError,
    InputError,
)
from citeqa.ingest import file_fingerprints, load_corpus
from citeqa.models import sha256_hex
from citeqa.sentvecs import chunk_and_sentence_vectors
from citeqa.store import ChunkStore, EmbeddingCache, write_store
from citeqa.vectors import build_dense, load_dense

FORMAT = 1
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildReport:
    """What a build did."""

    up_to_date: bool
    documents: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    skipped: tuple[tuple[str, str], ...]
    seconds: float
    index_type: str


@dataclass
class LoadedIndex:
    """A loaded, read-only index: manifest, chunk store, dense and BM25 sides, sentence vectors."""

    folder: Path
    manifest: dict
    store: ChunkStore
    dense: object
    bm25: BM25
    sentence_vectors: np.ndarray


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


def stale_files(manifest: dict, corpus_dir: Path) -> list[str]:
    """Corpus files added, removed or changed since the index was built."""
    seen = {**manifest.get("files", {}), **manifest.get("skipped_files", {})}
    now = file_fingerprints(corpus_dir) if corpus_dir.is_dir() else {}
    changed = sorted(set(seen) ^ set(now))
    for rel, (size, mtime) in now.items():
        old = seen.get(rel)
        if old is None or (old["size"], old["mtime_ns"]) == (size, mtime):
            continue
        try:
            digest = sha256_hex((corpus_dir / rel).read_bytes())
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


def build_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> BuildReport:
    """Build (or refresh) the index of ``settings.corpus_dir`` in ``settings.index_dir``."""
    t0 = time.perf_counter()
    index_dir = settings.index_dir
    with build_lock(index_dir):
        old = read_manifest(index_dir)
        if (old is not None and _same_settings(old, settings) and not stale_files(old, settings.corpus_dir)
                and _loads(settings)):
            _clean_leftovers(index_dir)
            c = old["counts"]
            return BuildReport(True, c["documents"], c["chunks"], c["sentences"], 0, 0,
                               tuple((s["path"], s["reason"]) for s in old.get("skipped", [])),
                               time.perf_counter() - t0, old["index_type"])
        fingerprints = file_fingerprints(settings.corpus_dir)
        docs, skipped = load_corpus(settings.corpus_dir, int(settings.max_file_mb * 2**20))
        chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
        n_sentences = sum(len(c.sentences) for c in chunks)
        cache = EmbeddingCache(index_dir / "embeddings.sqlite")
        try:
            chunk_vecs, sent_vecs, n_embedded = chunk_and_sentence_vectors(
                embedder, settings.model, chunks, cache, progress, settings.sentence_vectors)
        finally:
            cache.close()
        _clean_leftovers(index_dir)
        folder = index_dir / f".build-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        write_store(folder / "store.sqlite", docs, chunks)
        index_type = build_dense(chunk_vecs, folder / "dense.faiss", settings.exact_search_max)
        np.save(folder / "sentences.npy", sent_vecs.astype(np.float16), allow_pickle=False)
        BM25.build(c.embed_text for c in chunks).save(folder)
        by_path = {d.path: d for d in docs}
        manifest = {
            "format": FORMAT,
            "citeqa_version": __version__,
            "model": settings.model,
            "dimension": int(chunk_vecs.shape[1]) if len(chunks) else 0,
            "chunking": settings.chunking_key(),
            "index_type": index_type,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": n_sentences},
            "files": {p: _fp(by_path[p].sha256, fingerprints.get(p)) for p in sorted(by_path)},
            "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
            "skipped_files": {s.path: _fp(_hash_or_empty(settings.corpus_dir / s.path), fingerprints.get(s.path))
                              for s in skipped if s.path in fingerprints},
        }
        _write_json(folder / "manifest.json", manifest)
        _fsync_dir(folder)
        live = index_dir / f"data-{uuid.uuid4().hex[:12]}"
        os.rename(folder, live)
        _write_atomic(index_dir / "CURRENT", live.name + "\n")
        _clean_leftovers(index_dir)
        return BuildReport(False, len(docs), len(chunks), n_sentences, n_embedded,
                           len(chunks) + n_sentences - n_embedded,
                           tuple((s.path, s.reason) for s in skipped), time.perf_counter() - t0, index_type)


def _loads(settings: Settings) -> bool:
    """Whether the live index loads (a damaged one must be rebuilt, not reported up to date)."""
    try:
        load_index(settings).store.close()
    except IndexCorruptError:
        return False
    return True


def _same_settings(manifest: dict, settings: Settings) -> bool:
    try:
        check_compatible(manifest, settings)
    except IndexIncompatibleError:
        return False
    return True


def _fp(sha: str, fp: tuple[int, int] | None) -> dict:
    size, mtime = fp or (-1, -1)
    return {"sha256": sha, "size": size, "mtime_ns": mtime}


def _hash_or_empty(path: Path) -> str:
    try:
        return sha256_hex(path.read_bytes())
    except OSError:
        return ""


def _write_json(path: Path, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_leftovers(index_dir: Path) -> None:
    """Remove unfinished builds and data folders that are no longer live."""
    live = current_folder(index_dir)
    for p in index_dir.iterdir():
        if p.is_dir() and (p.name.startswith(".build-") or p.name.startswith("data-")) and p != live:
            shutil.rmtree(p, ignore_errors=True)


def load_index(settings: Settings) -> LoadedIndex:
    """Load the live index, refusing one that is missing, damaged or built differently."""
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
    store = ChunkStore(folder / "store.sqlite")
    counts = manifest.get("counts", {})
    dense = load_dense(folder / "dense.faiss", manifest.get("dimension", 0))
    bm25 = BM25.load(folder)
    try:
        sent = np.load(folder / "sentences.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, EOFError) as exc:
        raise IndexCorruptError(f"the sentence vectors in {folder} are damaged ({exc}); run `citeqa index`") from exc
    sizes = (store.n_chunks, dense.ntotal, bm25.n_docs, store.n_sentences, len(sent))
    expected = (counts.get("chunks"),) * 3 + (counts.get("sentences"),) * 2
    if sizes != expected:
        raise IndexCorruptError(f"the index in {folder} is inconsistent {sizes} vs {expected}; run `citeqa index`")
    return LoadedIndex(folder, manifest, store, dense, bm25, sent)
