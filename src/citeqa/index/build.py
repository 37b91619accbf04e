"""Building the index folder: a full build (whole or in shards), or an incremental update of the live index.

Both write a new data folder beside the live one and then swap ``CURRENT`` (see
:mod:`citeqa.index.layout`), so a crash at any point leaves the last good index in place.
An update (:mod:`citeqa.index.update`) re-reads, re-chunks and embeds only the files that
changed; when it declines, a full build runs, taking unchanged vectors from the embedding cache.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from citeqa.config import Settings
from citeqa.encode.embedder import Embedder
from citeqa.errors import IndexCorruptError, IndexIncompatibleError
from citeqa.index.bm25 import BM25
from citeqa.index.diskfull import guard
from citeqa.index.layout import (
    LoadedIndex,
    Progress,
    build_lock,
    check_compatible,
    clean_leftovers,
    current_folder,
    load_folder,
    read_manifest,
    stale_files,
)
from citeqa.index.parts import BuildReport, Prepared, fingerprint, finish, manifest_for, new_folder, vectors_for
from citeqa.index.sharded import load_sharded, write_sharded
from citeqa.index.store import write_store
from citeqa.index.token_store import save_tokens
from citeqa.index.update import update_index
from citeqa.index.vectors import build_dense
from citeqa.ingest.chunking import chunk_corpus
from citeqa.ingest.files import corpus_scan, load_corpus, reread

__all__ = ["BuildReport", "Prepared", "build_index", "up_to_date"]


def build_index(settings: Settings, embedder: Embedder, progress: Progress | None = None,
                prepared: Prepared | None = None) -> BuildReport:
    """Build (or refresh) the index of ``settings.corpus_dir`` in ``settings.index_dir``.

    With ``settings.shards`` above 1 the index is written in shards (:mod:`citeqa.index.sharded`), always
    whole; with ``prepared`` the corpus is not read again here (its vectors are expected in the cache)."""
    t0 = time.perf_counter()
    index_dir = settings.index_dir
    with build_lock(index_dir), guard(index_dir):
        fingerprints, outside = corpus_scan(settings.corpus_dir)
        old, live, healthy = _live(settings)
        try:
            changed = stale_files(old, settings.corpus_dir, fingerprints) if healthy else None
            if changed is not None:  # and the files an older extractor read (PDFs before pypdfium2)
                changed = sorted(set(changed) | (set(reread(old)) & set(fingerprints)))
            if healthy and changed == [] and old.get("shards", 1) == settings.shards:
                clean_leftovers(index_dir)
                return _current(old, t0)
            report = None
            if live is not None and changed and settings.shards == 1 and prepared is None:
                report = update_index(settings, embedder, live, changed, fingerprints, outside, progress)
        finally:
            if live is not None:
                live.store.close()
        if report is None:
            report = _full(settings, embedder, fingerprints, progress, prepared)
        return replace(report, seconds=time.perf_counter() - t0)


def up_to_date(settings: Settings) -> BuildReport | None:
    """The report of a build that would find nothing to do, or None when the index needs building."""
    t0 = time.perf_counter()
    fingerprints, _ = corpus_scan(settings.corpus_dir)
    old, live, healthy = _live(settings)
    if live is not None:
        live.store.close()
    if not healthy or old.get("shards", 1) != settings.shards:
        return None
    if stale_files(old, settings.corpus_dir, fingerprints) or set(reread(old)) & set(fingerprints):
        return None
    return _current(old, t0)


def _current(old: dict, t0: float) -> BuildReport:
    c = old["counts"]
    return BuildReport(True, c["documents"], c["chunks"], c["sentences"], 0, 0,
                       tuple((s["path"], s["reason"]) for s in old.get("skipped", [])),
                       time.perf_counter() - t0, old["index_type"], shards=old.get("shards", 1))


def _live(settings: Settings) -> tuple[dict, LoadedIndex | None, bool]:
    """The live manifest, the live index when it can be updated in place (unsharded), and whether it loads and
    fits the settings (else it is rebuilt whole)."""
    old = read_manifest(settings.index_dir)
    if old is None:
        return {}, None, False
    try:
        check_compatible(old, settings)
        folder = current_folder(settings.index_dir)
        if folder is None:
            return old, None, False
        if old.get("shards"):
            load_sharded(folder, old).store.close()
            return old, None, True
        return old, load_folder(folder, old), True
    except (IndexIncompatibleError, IndexCorruptError):
        return old, None, False


def _full(
    settings: Settings, embedder: Embedder, fingerprints: dict[str, tuple[int, int]], progress: Progress | None,
    prepared: Prepared | None = None,
) -> BuildReport:
    if prepared is None:
        docs, skipped = load_corpus(settings.corpus_dir, int(settings.max_file_mb * 2**20), settings.file_timeout_s)
        chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
    else:
        docs, skipped, chunks = list(prepared.docs), list(prepared.skipped), list(prepared.chunks)
    chunk_vecs, sent_vecs, tokens, proj, embedded = vectors_for(embedder, settings, chunks, progress)
    clean_leftovers(settings.index_dir)
    folder = new_folder(settings.index_dir)
    n_sent, extra = len(sent_vecs), {}
    if settings.shards > 1:
        index_type, rows = write_sharded(folder, docs, chunks, chunk_vecs, sent_vecs, tokens, proj, settings.shards,
                                         settings.exact_search_max)
        extra = {"shards": settings.shards, "shard_rows": rows}
    else:
        write_store(folder / "store.sqlite", docs, chunks)
        save_tokens(folder, tokens, proj)
        index_type = build_dense(chunk_vecs, folder / "dense.faiss", settings.exact_search_max)
        np.save(folder / "sentences.npy", sent_vecs.astype(np.float16), allow_pickle=False)
        BM25.build(c.embed_text for c in chunks).save(folder)
        np.save(folder / "order.npy", np.arange(len(chunks), dtype=np.int64), allow_pickle=False)
        np.save(folder / "dead.npy", np.zeros(0, dtype=np.int64), allow_pickle=False)
    files = {d.path: fingerprint(d.sha256, fingerprints.get(d.path)) for d in docs}
    counts = {"documents": len(docs), "chunks": len(chunks), "sentences": n_sent}
    manifest = manifest_for(settings, int(chunk_vecs.shape[1]) if len(chunks) else 0, index_type, counts,
                         {"chunks": len(chunks), "sentences": n_sent}, files, skipped, fingerprints)
    finish(settings.index_dir, folder, {**manifest, **extra})
    return BuildReport(False, len(docs), len(chunks), n_sent, embedded, len(chunks) + n_sent - embedded,
                       tuple((s.path, s.reason) for s in skipped), 0.0, index_type,
                       shards=len(extra.get("shard_rows", [])) or 1)


