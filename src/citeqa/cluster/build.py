"""``citeqa index --engine ray``: read, chunk and embed on a Ray cluster; write the usual index folder.

1. The driver lists the corpus (the folder must be readable at the same path on every node: shared storage).
2. Reading, text extraction and chunking run as Ray Data tasks, one file each.
3. The driver looks every text up in the embedding cache; only the missing ones go to Ray Data's
   ``map_batches`` over a pool of :class:`Embed` actors (each loads the model once, one CPU each); their
   vectors and token vectors come back into the cache, so a re-index embeds only changed text.
4. The driver writes the index (in ``--shards`` shards when asked) exactly as the local engine would from the
   cache (:func:`citeqa.index.build.build_index` with the chunks of step 2): the same chunks, offsets and
   vectors, and the same answers.

Ray Data's per-operator resource reservation starves a cluster of a few CPUs, so it is turned off. A task
whose node dies is retried by Ray; a failure that outlives the retries is an :class:`EngineError` and the
previous index stays live (nothing is swapped in until the whole build is written).
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from citeqa.cluster.connect import connect, nodes, quiet
from citeqa.config import Settings
from citeqa.encode.embedder import make_embedder, token_projection
from citeqa.encode.tokens import PackedTokens
from citeqa.errors import CorpusError, EngineError
from citeqa.index.build import BuildReport, Prepared, build_index, up_to_date
from citeqa.index.layout import Progress
from citeqa.index.sentence_vectors import vector_key
from citeqa.index.store import EmbeddingCache
from citeqa.index.token_store import token_key
from citeqa.ingest.chunking import chunk_document
from citeqa.ingest.files import (
    KINDS,
    FileReader,
    Skipped,
    UnusableFileError,
    collect_documents,
    corpus_path,
    corpus_scan,
)
from citeqa.models import Chunk

BATCH = 128
STALL_SECONDS = 300


def read_and_chunk(row: dict, corpus: str, max_bytes: int, timeout_s: float, chunk_chars: int, overlap: int
                   ) -> dict:
    """A Ray Data task: one file read (under the per-file time limit) and chunked, or the reason it is skipped;
    and the node that did it."""
    from pathlib import Path

    import ray

    rel = row["rel"]
    try:
        doc = _reader(max_bytes, timeout_s)(corpus_path(Path(corpus), rel), rel)
        result: Any = (doc, chunk_document(doc, chunk_chars, overlap))
    except UnusableFileError as err:
        result = (Skipped(rel, err.reason), [])
    return {"rel": rel, "result": result, "node": ray.get_runtime_context().get_node_id()}


_READERS: dict[tuple[int, float], FileReader] = {}


def _reader(max_bytes: int, timeout_s: float) -> FileReader:
    """One reader per Ray worker process, reused by every task it runs (a reading child starts once, not once a
    file); the child ends when the worker does (its pipe closes)."""
    return _READERS.setdefault((max_bytes, timeout_s), FileReader(max_bytes, timeout_s))


class Embed:
    """A Ray Data actor: the model loaded once; each batch of texts comes back as vectors, and for sentence
    texts packed token vectors in the cache's byte layout."""

    def __init__(self, model: str) -> None:
        import ray

        self.embedder = make_embedder(model)
        if hasattr(self.embedder, "workers"):
            self.embedder.workers = 1  # one CPU per actor
        self.projection = token_projection(self.embedder)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts, want = [str(t) for t in batch["text"]], batch["tokens"].astype(bool)
        vecs = np.zeros((len(texts), 0), dtype=np.float32)
        blobs = np.empty(len(texts), dtype=object)
        blobs[:] = b""
        if want.any():
            idx = np.flatnonzero(want)
            v, toks = self.embedder.embed_tokens([texts[i] for i in idx])  # type: ignore[attr-defined]
            vecs = np.zeros((len(texts), v.shape[1]), dtype=np.float32)
            vecs[idx] = v
            packed = PackedTokens.projected(toks, self.projection)
            for j, i in enumerate(idx):
                q, s, sp = packed.rows(j)
                blobs[i] = q.tobytes() + s.astype(np.float32).tobytes() + sp.astype(np.int32).tobytes()
        if (~want).any():
            idx = np.flatnonzero(~want)
            v = getattr(self.embedder, "embed_many", self.embedder.embed)([texts[i] for i in idx])
            if vecs.shape[1] == 0:
                vecs = np.zeros((len(texts), v.shape[1]), dtype=np.float32)
            vecs[idx] = v
        return {"key": batch["key"], "tkey": batch["tkey"], "vec": vecs, "blob": blobs,
                "node": np.array([self.node] * len(texts), dtype=object)}


def to_embed(settings: Settings, chunks: Sequence[Chunk], cache: EmbeddingCache, projection: np.ndarray
             ) -> list[dict]:
    """The texts whose vectors (and, for sentences, token vectors) are not in the cache, once each."""
    model = settings.model
    want: dict[str, dict] = {}
    if settings.sentence_vectors == "separate":
        for c in chunks:
            for i in range(len(c.sentences)):
                t = c.sentence_embed_text(i)
                want.setdefault(t, {"text": t, "key": vector_key(model, t), "tkey": token_key(model, projection, t),
                                    "tokens": True})
    for c in chunks:
        want.setdefault(c.embed_text, {"text": c.embed_text, "key": vector_key(model, c.embed_text), "tkey": "",
                                       "tokens": False})
    items = list(want.values())
    have_vec = cache.get_many([it["key"] for it in items], None)
    have_tok = cache.get_tokens([it["tkey"] for it in items if it["tokens"]])
    return [it for it in items if it["key"] not in have_vec or (it["tokens"] and it["tkey"] not in have_tok)]


def build_on_ray(settings: Settings, address: str | None = None, progress: Progress | None = None,
                 log: Any = sys.stderr) -> BuildReport:
    """Build the index of ``settings`` with the work spread over a Ray cluster (see the module docstring)."""
    t0 = time.perf_counter()
    current = up_to_date(settings)
    if current is not None:
        return current  # nothing changed: no cluster needed
    ray = connect(address)
    data = importlib.import_module("ray.data")
    ctx = data.DataContext.get_current()
    ctx.op_resource_reservation_enabled = False
    ctx.enable_progress_bars = False
    ctx.wait_for_min_actors_s = STALL_SECONDS  # a pool that cannot start (no free CPU) is an error, not a hang
    ctx.execution_no_progress_timeout_s = STALL_SECONDS  # so is a job that stops moving (its nodes gone)
    quiet("ray.data", logging.ERROR)  # and the warning that progress bars are off
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    corpus = settings.corpus_dir
    fingerprints, outside = corpus_scan(corpus)
    if not fingerprints and not outside:
        raise CorpusError(f"{KINDS} in {corpus}")
    try:
        rows = data.from_items([{"rel": r} for r in sorted(fingerprints)],
                                   override_num_blocks=max(1, min(len(fingerprints), 4 * cpus))).map(
            read_and_chunk, fn_kwargs={"corpus": str(corpus.resolve()), "max_bytes": int(settings.max_file_mb * 2**20),
                                       "timeout_s": settings.file_timeout_s,
                                       "chunk_chars": settings.chunk_chars,
                                       "overlap": settings.chunk_overlap_sentences}, num_cpus=1).take_all()
    except (ray.exceptions.RayError, OSError) as exc:
        raise EngineError(f"reading the corpus on the cluster failed: {exc}") from exc
    rows.sort(key=lambda r: r["rel"])
    docs, skipped = collect_documents(corpus, [r["result"][0] for r in rows], outside)
    kept = {d.path for d in docs}
    chunks = [c for r in rows if r["result"][0].path in kept for c in r["result"][1]]
    read_nodes = {r["node"] for r in rows}
    embedder = make_embedder(settings.model)
    projection = token_projection(embedder)
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    cache = EmbeddingCache(settings.index_dir / "embeddings.sqlite")
    embed_nodes: set[str] = set()
    try:
        todo = to_embed(settings, chunks, cache, projection)
        work = (f"{len(todo)} texts to embed on {min(cpus, max(1, len(todo) // BATCH))} actor(s)" if todo else
                "nothing to embed (all in the cache)")
        print(f"ray: {len(rows)} files read on {len(read_nodes)} node(s); {work}", file=log)
        if todo:
            pool = data.ActorPoolStrategy(min_size=1, max_size=max(1, min(cpus, len(todo) // BATCH)))
            ds = data.from_items(todo).map_batches(Embed, fn_constructor_kwargs={"model": settings.model},
                                                   batch_size=BATCH, num_cpus=1, compute=pool, batch_format="numpy")
            done = 0
            for batch in ds.iter_batches(batch_size=1024, batch_format="numpy"):
                dim = projection.shape[1]
                cache.put_many(zip(batch["key"].tolist(), batch["vec"]))
                cache.put_token_blobs((tk, len(b) // (dim + 12), dim, b)
                                      for tk, b in zip(batch["tkey"].tolist(), batch["blob"].tolist()) if tk)
                embed_nodes.update(batch["node"].tolist())
                done += len(batch["key"])
                if progress:
                    progress("texts", done, len(todo))
    except (ray.exceptions.RayError, TimeoutError) as exc:
        raise EngineError(f"embedding on the cluster failed: {exc}. The previous index is unchanged") from exc
    finally:
        cache.close()
    report = build_index(settings, embedder, progress, Prepared(docs, skipped, chunks))
    names = {n.split(" (")[1].rstrip(")"): n for n in nodes(ray)}
    used = sorted(names.get(n[:8], n[:8]) for n in read_nodes | embed_nodes)
    return replace(report, nodes=tuple(used), embedded=report.embedded + len(todo),
                   reused=max(0, report.reused - len(todo)), seconds=time.perf_counter() - t0)
