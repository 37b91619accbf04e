"""Building the index folder: a full build, or an incremental update of the live index.

Both write a new data folder beside the live one and then swap ``CURRENT`` (see
:mod:`citeqa.index.layout`), so a crash at any point leaves the last good index in place.

An update re-reads, re-chunks and embeds only the files that changed. Rows are
never renumbered: the chunks of changed or removed files become dead rows
(left out of every search) and new chunks are appended. When dead rows would
pass a quarter of all rows, or anything else makes an update unsafe (a
duplicate file, a change of index type), a full build runs instead; it takes
unchanged vectors from the embedding cache.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from citeqa import __version__
from citeqa.config import Settings
from citeqa.encode.embedder import Embedder
from citeqa.encode.tokens import PackedTokens
from citeqa.errors import IndexCorruptError, IndexIncompatibleError
from citeqa.index.bm25 import BM25
from citeqa.index.layout import (
    FORMAT,
    LoadedIndex,
    Progress,
    build_lock,
    check_compatible,
    clean_leftovers,
    fsync_dir,
    load_index,
    read_manifest,
    stale_files,
    swap_in,
    write_json,
)
from citeqa.index.sentence_vectors import chunk_and_sentence_vectors
from citeqa.index.store import EmbeddingCache, update_store, write_store
from citeqa.index.token_store import save_tokens, sentence_tokens
from citeqa.index.vectors import append_dense, build_dense
from citeqa.ingest.chunking import chunk_corpus
from citeqa.ingest.files import (
    READERS,
    Skipped,
    UnusableFileError,
    corpus_path,
    corpus_scan,
    load_corpus,
    read_document,
    reread,
)
from citeqa.models import Chunk, Document, sha256_hex

MAX_DEAD = 0.25  # an update leaving more dead rows than this share of all rows is a full build instead


@dataclass(frozen=True)
class BuildReport:
    """What a build did (``incremental``: only the changed files were read and embedded)."""

    up_to_date: bool
    documents: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    skipped: tuple[tuple[str, str], ...]
    seconds: float
    index_type: str
    incremental: bool = False
    changed: int = 0


def build_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> BuildReport:
    """Build (or refresh) the index of ``settings.corpus_dir`` in ``settings.index_dir``."""
    t0 = time.perf_counter()
    index_dir = settings.index_dir
    with build_lock(index_dir):
        fingerprints, outside = corpus_scan(settings.corpus_dir)
        old, live = _live(settings)
        try:
            changed = stale_files(old, settings.corpus_dir, fingerprints) if live is not None else None
            if changed is not None:  # and the files an older extractor read (PDFs before pypdfium2)
                changed = sorted(set(changed) | (set(reread(old)) & set(fingerprints)))
            if live is not None and changed == []:
                clean_leftovers(index_dir)
                c = old["counts"]
                return BuildReport(True, c["documents"], c["chunks"], c["sentences"], 0, 0,
                                   tuple((s["path"], s["reason"]) for s in old.get("skipped", [])),
                                   time.perf_counter() - t0, old["index_type"])
            report = None
            if live is not None and changed:
                report = _update(settings, embedder, live, changed, fingerprints, outside, progress)
        finally:
            if live is not None:
                live.store.close()
        if report is None:
            report = _full(settings, embedder, fingerprints, progress)
        return replace(report, seconds=time.perf_counter() - t0)


def _live(settings: Settings) -> tuple[dict, LoadedIndex | None]:
    """The live manifest and index when it loads and fits the settings (else it is rebuilt whole)."""
    old = read_manifest(settings.index_dir)
    if old is None:
        return {}, None
    try:
        check_compatible(old, settings)
        return old, load_index(settings)
    except (IndexIncompatibleError, IndexCorruptError):
        return old, None


def _vectors(
    embedder: Embedder, settings: Settings, chunks: Sequence[Chunk], progress: Progress | None
) -> tuple[np.ndarray, np.ndarray, PackedTokens, np.ndarray, int]:
    """Chunk vectors, sentence vectors and token vectors (chunk by chunk), the token projection, and how many
    texts were embedded.

    The tokens come first: with separate sentence vectors their pass also caches the sentence vectors."""
    cache = EmbeddingCache(settings.index_dir / "embeddings.sqlite")
    try:
        tokens, proj, n1 = sentence_tokens(embedder, settings.model, chunks, cache, settings.sentence_vectors,
                                           progress)
        chunk_vecs, sent_vecs, n2 = chunk_and_sentence_vectors(embedder, settings.model, chunks, cache,
                                                               progress, settings.sentence_vectors)
        return chunk_vecs, sent_vecs, tokens, proj, n1 + n2
    finally:
        cache.close()


def _full(
    settings: Settings, embedder: Embedder, fingerprints: dict[str, tuple[int, int]], progress: Progress | None
) -> BuildReport:
    docs, skipped = load_corpus(settings.corpus_dir, int(settings.max_file_mb * 2**20))
    chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
    chunk_vecs, sent_vecs, tokens, proj, embedded = _vectors(embedder, settings, chunks, progress)
    clean_leftovers(settings.index_dir)
    folder = _new_folder(settings.index_dir)
    write_store(folder / "store.sqlite", docs, chunks)
    save_tokens(folder, tokens, proj)
    index_type = build_dense(chunk_vecs, folder / "dense.faiss", settings.exact_search_max)
    np.save(folder / "sentences.npy", sent_vecs.astype(np.float16), allow_pickle=False)
    BM25.build(c.embed_text for c in chunks).save(folder)
    np.save(folder / "order.npy", np.arange(len(chunks), dtype=np.int64), allow_pickle=False)
    np.save(folder / "dead.npy", np.zeros(0, dtype=np.int64), allow_pickle=False)
    files = {d.path: _fp(d.sha256, fingerprints.get(d.path)) for d in docs}
    n_sent = len(sent_vecs)
    counts = {"documents": len(docs), "chunks": len(chunks), "sentences": n_sent}
    manifest = _manifest(settings, int(chunk_vecs.shape[1]) if len(chunks) else 0, index_type, counts,
                         {"chunks": len(chunks), "sentences": n_sent}, files, skipped, fingerprints)
    _finish(settings.index_dir, folder, manifest)
    return BuildReport(False, len(docs), len(chunks), n_sent, embedded, len(chunks) + n_sent - embedded,
                       tuple((s.path, s.reason) for s in skipped), 0.0, index_type)


def _update(
    settings: Settings, embedder: Embedder, live: LoadedIndex, changed: list[str],
    fingerprints: dict[str, tuple[int, int]], outside: list[Skipped], progress: Progress | None,
) -> BuildReport | None:
    """Update the live index for the ``changed`` files; None when only a full build is safe."""
    old = live.manifest
    corpus = settings.corpus_dir
    gone = set(changed)
    kept_files = {p: f for p, f in old["files"].items() if p not in gone}
    docs: list[Document] = []
    skipped = list(outside)
    for rel in changed:
        if rel not in fingerprints:
            continue  # removed
        try:
            docs.append(read_document(corpus_path(corpus, rel), rel, int(settings.max_file_mb * 2**20)))
        except UnusableFileError as err:
            skipped.append(Skipped(rel, err.reason))
    shas = [d.sha256 for d in docs]
    old_skips = [s for s in old.get("skipped", []) if s["path"] not in gone and s["path"] in fingerprints]
    if (len(set(shas)) < len(shas) or set(shas) & {f["sha256"] for f in kept_files.values()}
            or any(s["reason"].startswith("duplicate of ") for s in old_skips) or not (kept_files or docs)):
        return None  # duplicates are resolved in path order: a full build does that
    skipped += [Skipped(s["path"], s["reason"]) for s in old_skips]
    skipped.sort(key=lambda s: s.path)
    chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
    removed = sorted(set(old["files"]) & gone)
    dropped = live.store.rows_of(removed)
    dead = np.union1d(np.asarray(live.dead, dtype=np.int64), np.array([r for r, _, _ in dropped], dtype=np.int64))
    positions = old["positions"]
    n_rows = positions["chunks"] + len(chunks)
    live_chunks = n_rows - len(dead)
    if len(dead) > MAX_DEAD * n_rows or (old["index_type"] != "flat") != (live_chunks > settings.exact_search_max):
        return None  # too many dead rows, or the size now calls for the other index type
    chunk_vecs, sent_vecs, tokens, proj, embedded = _vectors(embedder, settings, chunks, progress)
    if not np.array_equal(proj, live.tokens.projection):
        return None  # the token projection changed: rebuild whole
    clean_leftovers(settings.index_dir)
    folder = _new_folder(settings.index_dir)
    try:
        order_rows = update_store(live.folder / "store.sqlite", folder / "store.sqlite", removed, docs, chunks,
                                  positions["chunks"], positions["sentences"])
        if len(chunks):
            append_dense(live.folder / "dense.faiss", chunk_vecs, folder / "dense.faiss")
        else:
            shutil.copyfile(live.folder / "dense.faiss", folder / "dense.faiss")
        old_sents = np.asarray(live.sentence_vectors, dtype=np.float16)
        new_sents = sent_vecs.astype(np.float16).reshape(-1, old_sents.shape[1] if old_sents.ndim == 2 else 0)
        np.save(folder / "sentences.npy", np.concatenate([old_sents, new_sents]), allow_pickle=False)
        save_tokens(folder, tokens, proj, live.tokens)
        live.bm25.updated(dead, (c.embed_text for c in chunks)).save(folder)
        order = np.full(n_rows, n_rows, dtype=np.int64)
        order[np.asarray(order_rows, dtype=np.int64)] = np.arange(len(order_rows), dtype=np.int64)
        np.save(folder / "order.npy", order, allow_pickle=False)
        np.save(folder / "dead.npy", dead, allow_pickle=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    dropped_sents = sum(hi - lo for _, lo, hi in dropped)
    n_sent = old["counts"]["sentences"] - dropped_sents + len(sent_vecs)
    files = {**kept_files, **{d.path: _fp(d.sha256, fingerprints.get(d.path)) for d in docs}}
    counts = {"documents": len(files), "chunks": live_chunks, "sentences": n_sent}
    manifest = _manifest(settings, old["dimension"], old["index_type"], counts,
                         {"chunks": n_rows, "sentences": positions["sentences"] + len(sent_vecs)}, files, skipped,
                         fingerprints)
    _finish(settings.index_dir, folder, manifest)
    return BuildReport(False, len(files), live_chunks, n_sent, embedded, live_chunks + n_sent - embedded,
                       tuple((s.path, s.reason) for s in skipped), 0.0, old["index_type"], True, len(changed))


def _manifest(
    settings: Settings, dim: int, index_type: str, counts: dict, positions: dict, files: dict,
    skipped: Sequence[Skipped], fingerprints: dict[str, tuple[int, int]],
) -> dict:
    return {
        "format": FORMAT,
        "citeqa_version": __version__,
        "model": settings.model,
        "dimension": dim,
        "chunking": settings.chunking_key(),
        "index_type": index_type,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": counts,
        "positions": positions,
        "files": dict(sorted(files.items())),
        "readers": READERS,
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "skipped_files": {s.path: _fp(_hash_or_empty(corpus_path(settings.corpus_dir, s.path)),
                                      fingerprints.get(s.path)) for s in skipped if s.path in fingerprints},
    }


def _new_folder(index_dir: Path) -> Path:
    folder = index_dir / f".build-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def _finish(index_dir: Path, folder: Path, manifest: dict) -> None:
    write_json(folder / "manifest.json", manifest)
    fsync_dir(folder)
    swap_in(index_dir, folder)
    clean_leftovers(index_dir)


def _fp(sha: str, fp: tuple[int, int] | None) -> dict:
    size, mtime = fp or (-1, -1)
    return {"sha256": sha, "size": size, "mtime_ns": mtime}


def _hash_or_empty(path: Path) -> str:
    try:
        return sha256_hex(path.read_bytes())
    except OSError:
        return ""
