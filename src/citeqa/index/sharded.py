"""A sharded index: the same files split into N shard folders, queried as one (issue #13).

Layout of a sharded data folder::

    manifest.json              as for one index, with "shards": N and each shard's rows
    bm25_global.npz            corpus-wide document frequencies (for the answerer's term weights)
    bm25_global_vocab.json
    shard-000/ … shard-NNN/    each a whole index folder of its documents: store.sqlite, dense.faiss,
                               sentences.npy, token rows, bm25.npz (+ vocab), order.npy, dead.npy

Documents are split in corpus order into N runs of about equal chunk counts, so a chunk's global row is its
shard's first row plus its row in the shard, and global rows are in corpus order. Each shard's BM25 weights
use corpus-wide statistics (:func:`citeqa.index.bm25.build_shards`) and all shards use one kind of dense
index (exact up to ``exact_search_max`` chunks in all), so :class:`ShardedIndex` retrieves and answers
exactly like one index of the same files: dense hits merged by score, BM25 scores concatenated, the
sentence and token rankings over the merged pool (tested in ``tests/index/test_sharded.py``).

A sharded index is always written whole (the embedding cache makes that cheap: only changed text is embedded);
incremental row-level updates stay a feature of the unsharded index.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from citeqa.encode.tokens import PackedTokens, TokenVectors
from citeqa.errors import IndexCorruptError
from citeqa.index.bm25 import build_shards
from citeqa.index.layout import LoadedIndex, load_folder, write_json
from citeqa.index.store import write_store
from citeqa.index.token_store import save_tokens
from citeqa.index.vectors import build_dense
from citeqa.models import Chunk, Document

SHARD = "shard-{:03d}"


def shard_bounds(chunks_per_doc: Sequence[int], n: int) -> list[tuple[int, int]]:
    """Documents ``[first, end)`` of each of ``n`` shards: runs in corpus order, about equal in chunks."""
    total, m = sum(chunks_per_doc), len(chunks_per_doc)
    n = max(1, min(n, m))
    cum = np.cumsum([0, *chunks_per_doc])
    cuts = [0]
    for i in range(1, n):  # each shard at least one document, as near an equal share of chunks as that allows
        cuts.append(max(cuts[-1] + 1, min(int(np.searchsorted(cum, total * i / n, side="left")), m - (n - i))))
    return list(pairwise([*cuts, m]))


def write_sharded(folder: Path, docs: Sequence[Document], chunks: Sequence[Chunk], chunk_vecs: np.ndarray,
                  sent_vecs: np.ndarray, tokens: PackedTokens, projection: np.ndarray, shards: int,
                  exact_search_max: int) -> tuple[str, list[dict]]:
    """Write the shard folders and the global term table into ``folder``; returns the index type and each
    shard's rows (for the manifest)."""
    per_doc = [0] * len(docs)
    where = {d.path: i for i, d in enumerate(docs)}
    for c in chunks:
        per_doc[where[c.doc]] += 1
    doc_bounds = shard_bounds(per_doc, shards)
    first_chunk = np.concatenate([[0], np.cumsum(per_doc)]).astype(int)
    sent_first = np.concatenate([[0], np.cumsum([len(c.sentences) for c in chunks])]).astype(int)
    row_bounds = [(int(first_chunk[a]), int(first_chunk[b])) for a, b in doc_bounds]
    bm25s, vocab, df = build_shards((c.embed_text for c in chunks), row_bounds)
    exact = len(chunks) <= exact_search_max  # one kind of dense index in every shard
    kinds, info = set(), []
    for s, ((da, db), (ra, rb), bm25) in enumerate(zip(doc_bounds, row_bounds, bm25s)):
        sub = folder / SHARD.format(s)
        sub.mkdir()
        sa, sb = int(sent_first[ra]), int(sent_first[rb])
        write_store(sub / "store.sqlite", docs[da:db], chunks[ra:rb])
        save_tokens(sub, PackedTokens.take([(tokens, i) for i in range(sa, sb)], projection.shape[1]), projection)
        kinds.add(build_dense(chunk_vecs[ra:rb], sub / "dense.faiss", 1 << 62 if exact else 0))
        np.save(sub / "sentences.npy", sent_vecs[sa:sb].astype(np.float16), allow_pickle=False)
        bm25.save(sub)
        np.save(sub / "order.npy", np.arange(rb - ra, dtype=np.int64), allow_pickle=False)
        np.save(sub / "dead.npy", np.zeros(0, dtype=np.int64), allow_pickle=False)
        rows = {"documents": db - da, "chunks": rb - ra, "sentences": sb - sa}
        write_json(sub / "manifest.json", {"dimension": int(chunk_vecs.shape[1]) if len(chunks) else 0,
                                           "counts": rows, "positions": {k: rows[k] for k in ("chunks", "sentences")}})
        info.append({"folder": sub.name, "first_row": ra, "first_sentence": sa, **rows})
    np.savez(folder / "bm25_global.npz", df=df, n=np.array([len(chunks)], dtype=np.int64))
    terms_by_id = sorted(vocab, key=vocab.__getitem__)
    (folder / "bm25_global_vocab.json").write_text(json.dumps(terms_by_id, ensure_ascii=False), encoding="utf-8")
    return (kinds.pop() if len(kinds) == 1 else "flat"), info


class _Bases:
    """Shard lookups by global chunk row or global sentence row."""

    def __init__(self, first: Sequence[int]) -> None:
        self.first = list(first)

    def of(self, row: int) -> int:
        return bisect.bisect_right(self.first, row) - 1


@dataclass
class ShardedIndex:
    """Several shard folders seen as one index (the interface :func:`citeqa.answer.retrieve.retrieve` reads)."""

    folder: Path
    manifest: dict
    shards: list[LoadedIndex]
    order: np.ndarray
    store: ShardedStore
    bm25: ShardedBM25
    sentence_vectors: ShardedRows
    tokens: ShardedTokens

    def dense_search(self, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
        hits = [(base + r, s) for shard, base in zip(self.shards, self.store.rows.first)
                for r, s in shard.dense_search(qvec, k)]
        return sorted(hits, key=lambda h: (-h[1], h[0]))[:k]

    def dense_scores(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        out: dict[int, float] = {}
        for s, local in self.store.split(rows).items():
            base = self.store.rows.first[s]
            out.update({base + r: v for r, v in self.shards[s].dense_scores(qvec, local).items()})
        return out


class ShardedStore:
    """The shards' chunk stores under global row numbers."""

    def __init__(self, shards: Sequence[LoadedIndex], first_rows: Sequence[int], first_sentences: Sequence[int]
                 ) -> None:
        self.shards = list(shards)
        self.rows, self.sentences = _Bases(first_rows), _Bases(first_sentences)
        self.n_chunks = sum(s.store.n_chunks for s in shards)
        self.n_sentences = sum(s.store.n_sentences for s in shards)

    def split(self, rows: Iterable[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for r in rows:
            s = self.rows.of(int(r))
            out.setdefault(s, []).append(int(r) - self.rows.first[s])
        return out

    def chunks(self, rows: Iterable[int]) -> dict[int, tuple[Chunk, int, int]]:
        out = {}
        for s, local in self.split(rows).items():
            rb, sb = self.rows.first[s], self.sentences.first[s]
            out.update({rb + r: (c, sb + lo, sb + hi) for r, (c, lo, hi) in self.shards[s].store.chunks(local).items()})
        return out

    def sentence_ranges(self, rows: Iterable[int]) -> dict[int, tuple[int, int]]:
        out = {}
        for s, local in self.split(rows).items():
            rb, sb = self.rows.first[s], self.sentences.first[s]
            got = self.shards[s].store.sentence_ranges(local)
            out.update({rb + r: (sb + lo, sb + hi) for r, (lo, hi) in got.items()})
        return out

    def document(self, path: str) -> Document | None:
        return next((d for s in self.shards if (d := s.store.document(path)) is not None), None)

    def sections(self, path: str) -> list[str]:
        return next((got for s in self.shards if (got := s.store.sections(path))), [])

    def pages(self, paths: Iterable[str]) -> dict[str, tuple[int, ...]]:
        paths = list(paths)
        return {p: pg for s in self.shards for p, pg in s.store.pages(paths).items()}

    def documents(self) -> list[tuple[str, str, int]]:
        return sorted(d for s in self.shards for d in s.store.documents())

    def close(self) -> None:
        for s in self.shards:
            s.store.close()


class ShardedBM25:
    """BM25 scores of every global row (each shard's weights already use corpus-wide statistics)."""

    def __init__(self, shards: Sequence[LoadedIndex], vocab: dict[str, int], df: np.ndarray, n: int) -> None:
        self.shards, self.vocab, self.df, self.n_live = list(shards), vocab, df, n
        self.n_docs = n

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        parts = [s.bm25.scores(query_terms) for s in self.shards]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def weight(self, term: str) -> float:
        """As :meth:`citeqa.index.bm25.BM25.weight`, over the whole corpus."""
        tid = self.vocab.get(term)
        df = 0 if tid is None else int(self.df[tid])
        return float(np.log1p((self.n_live + 1) / (df + 1)))


class ShardedRows:
    """``sentence_vectors[lo:hi]`` over the shards (a sentence range never crosses a shard)."""

    def __init__(self, shards: Sequence[LoadedIndex], bases: _Bases) -> None:
        self.shards, self.bases = list(shards), bases

    def __getitem__(self, rows: slice) -> np.ndarray:
        s = self.bases.of(int(rows.start))
        base = self.bases.first[s]
        return self.shards[s].sentence_vectors[rows.start - base : rows.stop - base]


class ShardedTokens:
    """The shards' token rows under global sentence numbers."""

    def __init__(self, shards: Sequence[LoadedIndex], bases: _Bases) -> None:
        self.shards, self.bases = list(shards), bases
        self.projection = shards[0].tokens.projection

    def project(self, tokens: TokenVectors | None) -> TokenVectors | None:
        return self.shards[0].tokens.project(tokens)

    def sentences(self, lo: int, hi: int) -> list[TokenVectors]:
        s = self.bases.of(lo)
        base = self.bases.first[s]
        return self.shards[s].tokens.sentences(lo - base, hi - base)

    def best_alignment(self, ranges: Sequence[tuple[int, int]], question: np.ndarray, weights: np.ndarray
                       ) -> np.ndarray:
        out = np.zeros(len(ranges), dtype=np.float32)
        groups: dict[int, list[int]] = {}
        for i, (lo, _) in enumerate(ranges):
            groups.setdefault(self.bases.of(lo), []).append(i)
        for s, idx in groups.items():
            base = self.bases.first[s]
            local = [(ranges[i][0] - base, ranges[i][1] - base) for i in idx]
            out[idx] = self.shards[s].tokens.best_alignment(local, question, weights)
        return out


def load_sharded(folder: Path, manifest: dict) -> ShardedIndex:
    """A sharded data folder (see the module's docstring)."""
    info = manifest.get("shard_rows") or []
    if not info:
        raise IndexCorruptError(f"the sharded index in {folder} lists no shards; run `citeqa index`")
    shards = []
    for item in info:
        sub = folder / item["folder"]
        try:
            sub_manifest = json.loads((sub / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"the shard {sub} is damaged ({exc}); run `citeqa index`") from exc
        shards.append(load_folder(sub, sub_manifest))
    try:
        with np.load(folder / "bm25_global.npz", allow_pickle=False) as z:
            df, n = z["df"], int(z["n"][0])
        terms_by_id = json.loads((folder / "bm25_global_vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise IndexCorruptError(f"the global term table in {folder} is damaged ({exc}); run `citeqa index`") from exc
    first_rows = [int(i["first_row"]) for i in info]
    first_sents = [int(i["first_sentence"]) for i in info]
    if len(terms_by_id) != len(df) or n != sum(s.store.n_chunks for s in shards):
        raise IndexCorruptError(f"the sharded index in {folder} is inconsistent; run `citeqa index`")
    store = ShardedStore(shards, first_rows, first_sents)
    order = np.concatenate([s.order + b for s, b in zip(shards, first_rows)])
    return ShardedIndex(folder, manifest, shards, order, store,
                        ShardedBM25(shards, {t: i for i, t in enumerate(terms_by_id)}, df, n),
                        ShardedRows(shards, store.sentences), ShardedTokens(shards, store.sentences))


