"""Hybrid retrieval: dense (FAISS), BM25 and best-sentence rankings fused by reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citeqa.answer.align import token_weights
from citeqa.answer.qtypes import without_cue
from citeqa.encode.tokens import TokenVectors
from citeqa.index.live import Index
from citeqa.ingest.terms import terms
from citeqa.models import Passage

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Retrieved:
    """Passages, best first, with each passage's sentence vectors and sentence token vectors (aligned)."""

    passages: tuple[Passage, ...]
    sentence_vectors: tuple[np.ndarray, ...]
    sentence_tokens: tuple[tuple[TokenVectors, ...], ...] = ()


def rrf(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: ``sum(1 / (k + rank))`` over the rankings (rank from 1)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank)
    return fused


def best_sentence_ranking(index: Index, qvec: np.ndarray, ranges: dict[int, tuple[int, int]]) -> list[int]:
    """Candidate chunks (``row -> sentence rows``) ranked by their best sentence's similarity to the question.

    A chunk whose one sentence matches the question closely can rank low as a
    whole; this third ranking, fused with the other two, lifts it.
    """
    q = qvec.astype(np.float32)
    best = {r: float((np.asarray(index.sentence_vectors[lo:hi], dtype=np.float32) @ q).max())
            for r, (lo, hi) in ranges.items() if hi > lo}
    return sorted(best, key=lambda r: (-best[r], index.order[r]))


def best_alignment_ranking(index: Index, query: str, qtokens: TokenVectors, ranges: dict[int, tuple[int, int]]
                           ) -> list[int]:
    """Candidate chunks (``row -> sentence rows``) ranked by their best sentence's token alignment with the question."""
    weights = token_weights(without_cue(query), qtokens, {t: index.bm25.weight(t) for t in set(terms(query))})
    chunk_rows = [r for r, (lo, hi) in ranges.items() if hi > lo]
    scores = index.tokens.best_alignment([ranges[r] for r in chunk_rows], qtokens.vectors, weights)
    best = dict(zip(chunk_rows, scores.tolist()))
    return sorted(best, key=lambda r: (-best[r], index.order[r]))


def retrieve(
    index: Index, query: str, qvec: np.ndarray, k: int, mode: str = "hybrid", rrf_k: int = 60,
    qtokens: TokenVectors | None = None,
) -> Retrieved:
    """The ``k`` best passages for ``query`` (``qvec`` is its embedding, ``qtokens`` its tokens)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    depth = max(4 * k, 40)
    bm25_all = index.bm25.scores(terms(query))
    dense_hits = index.dense_search(qvec, depth) if mode != "bm25" else []
    sparse_hits: list[tuple[int, float]] = []
    if mode != "dense" and len(bm25_all):
        top = np.argpartition(-bm25_all, min(depth, len(bm25_all)) - 1)[:depth]
        top = top[np.lexsort((index.order[top], -bm25_all[top]))]  # ties in corpus order
        sparse_hits = [(int(i), float(bm25_all[i])) for i in top if bm25_all[i] > 0]
    if mode == "dense":
        fused = {r: s for r, s in dense_hits}
    elif mode == "bm25":
        fused = {r: s for r, s in sparse_hits}
    else:
        pool = {r for r, _ in dense_hits} | {r for r, _ in sparse_hits}
        ranges = index.store.sentence_ranges(pool)  # one read for both sentence rankings
        rankings = [[r for r, _ in dense_hits], [r for r, _ in sparse_hits], best_sentence_ranking(index, qvec, ranges)]
        if qtokens is not None and len(qtokens):
            rankings.append(best_alignment_ranking(index, query, qtokens, ranges))
        fused = rrf(rankings, rrf_k)
    rows = sorted(fused, key=lambda r: (-fused[r], index.order[r]))[:k]
    dense = dict(dense_hits)
    dense.update(index.dense_scores(qvec, [r for r in rows if r not in dense]))
    found = index.store.chunks(rows)
    passages, vectors, tokens = [], [], []
    for r in rows:
        if r not in found:
            continue
        chunk, lo, hi = found[r]
        passages.append(Passage(len(passages) + 1, chunk, fused[r], dense.get(r), float(bm25_all[r])))
        vectors.append(np.asarray(index.sentence_vectors[lo:hi], dtype=np.float32))
        tokens.append(tuple(index.tokens.sentences(lo, hi)))
    return Retrieved(tuple(passages), tuple(vectors), tuple(tokens))
