"""An incremental update of the live (unsharded) index: only the files that changed are read and embedded.

Rows are never renumbered: the chunks of changed or removed files become dead rows (left out of every search)
and new chunks are appended. When dead rows would pass a quarter of all rows, or anything else makes an update
unsafe (a duplicate file, a change of index type), it declines and a full build runs instead.
"""

from __future__ import annotations

import shutil

import numpy as np

from citeqa.config import Settings
from citeqa.encode.embedder import Embedder
from citeqa.index.layout import LoadedIndex, Progress, clean_leftovers
from citeqa.index.parts import BuildReport, fingerprint, finish, manifest_for, new_folder, vectors_for
from citeqa.index.store import update_store
from citeqa.index.token_store import save_tokens
from citeqa.index.vectors import append_dense
from citeqa.ingest.chunking import chunk_corpus
from citeqa.ingest.files import FileReader, Skipped, UnusableFileError, corpus_path
from citeqa.models import Document

MAX_DEAD = 0.25  # an update leaving more dead rows than this share of all rows is a full build instead


def update_index(
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
    with FileReader(int(settings.max_file_mb * 2**20), settings.file_timeout_s) as read:
        for rel in changed:
            if rel not in fingerprints:
                continue  # removed
            try:
                docs.append(read(corpus_path(corpus, rel), rel))
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
    chunk_vecs, sent_vecs, tokens, proj, embedded = vectors_for(embedder, settings, chunks, progress)
    if not np.array_equal(proj, live.tokens.projection):
        return None  # the token projection changed: rebuild whole
    clean_leftovers(settings.index_dir)
    folder = new_folder(settings.index_dir)
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
    files = {**kept_files, **{d.path: fingerprint(d.sha256, fingerprints.get(d.path)) for d in docs}}
    counts = {"documents": len(files), "chunks": live_chunks, "sentences": n_sent}
    manifest = manifest_for(settings, old["dimension"], old["index_type"], counts,
                         {"chunks": n_rows, "sentences": positions["sentences"] + len(sent_vecs)}, files, skipped,
                         fingerprints)
    finish(settings.index_dir, folder, manifest)
    return BuildReport(False, len(files), live_chunks, n_sent, embedded, live_chunks + n_sent - embedded,
                       tuple((s.path, s.reason) for s in skipped), 0.0, old["index_type"], True, len(changed))


