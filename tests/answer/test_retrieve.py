"""Tests for citeqa.answer.retrieve: reciprocal rank fusion and the three retrieval modes."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from citeqa.answer.retrieve import MODES, retrieve, rrf
from citeqa.errors import InputError
from citeqa.qa import QA

IOT_Q = "When was the EU-China IoT Advisory Group established?"
SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def test_rrf_math() -> None:
    fused = rrf([[1, 2], [2, 3]], k=60)
    assert fused == pytest.approx({1: 1 / 61, 2: 1 / 62 + 1 / 61, 3: 1 / 62})
    assert max(fused, key=fused.__getitem__) == 2


def test_rrf_k_and_edge_cases() -> None:
    assert rrf([]) == {}
    assert rrf([[], []]) == {}
    assert rrf([[7]], k=0) == {7: 1.0}
    assert rrf([[5, 6, 7]], k=10) == pytest.approx({5: 1 / 11, 6: 1 / 12, 7: 1 / 13})
    # The same row twice in two rankings at rank 1 beats any row in one ranking.
    fused = rrf([[1, 2, 3], [1, 3, 2]], k=60)
    assert max(fused, key=fused.__getitem__) == 1 and fused[1] > fused[2]
    assert fused[2] == pytest.approx(fused[3])


def _retrieve(qa: QA, query: str, k: int = 5, mode: str = "hybrid"):
    qvec = qa.embedder.embed([query])[0]
    return retrieve(qa.index, query, qvec, k, mode, qa.settings.rrf_k)


@pytest.mark.parametrize("mode", MODES)
def test_modes_return_ranked_passages_with_scores(seed_qa: QA, mode: str) -> None:
    got = _retrieve(seed_qa, IOT_Q, 5, mode)
    assert len(got.passages) == 5  # 12 chunks, every one matching some of the question's words
    assert [p.rank for p in got.passages] == list(range(1, len(got.passages) + 1))
    assert all(a.score >= b.score for a, b in pairwise(got.passages))
    assert len({p.chunk.id for p in got.passages}) == len(got.passages)
    for p, vecs in zip(got.passages, got.sentence_vectors, strict=True):
        assert p.dense_score is not None and -1.0001 <= p.dense_score <= 1.0001
        assert p.bm25_score is not None and p.bm25_score >= 0.0
        assert vecs.shape == (len(p.chunk.sentences), 384)
        assert vecs.dtype == np.float32
        doc = seed_qa.document(p.chunk.doc)
        assert doc is not None and doc.text[p.chunk.start : p.chunk.end] == p.chunk.text
    # The hash embedder only knows shared words: dense mode is weaker than BM25 here.
    if mode != "dense":
        assert got.passages[0].chunk.section == "EU-China IoT Advisory Group"
    assert any("established in February 2011" in p.chunk.text for p in got.passages[:3])


def test_score_kinds_per_mode(seed_qa: QA) -> None:
    dense = _retrieve(seed_qa, IOT_Q, 5, "dense").passages
    bm25 = _retrieve(seed_qa, IOT_Q, 5, "bm25").passages
    hybrid = _retrieve(seed_qa, IOT_Q, 5, "hybrid").passages
    assert [p.score for p in dense] == [p.dense_score for p in dense]
    assert [p.score for p in bm25] == pytest.approx([p.bm25_score for p in bm25])
    # hybrid fuses three rankings (dense, BM25, best sentence): each adds at most 1 / (k + 1)
    assert all(p.score <= 3 / (seed_qa.settings.rrf_k + 1) + 1e-9 for p in hybrid)
    assert all(p.bm25_score > 0 for p in bm25)


def test_bm25_mode_needs_matching_terms(seed_qa: QA) -> None:
    assert _retrieve(seed_qa, "zzzqqq xxyyzz", 5, "bm25").passages == ()
    assert len(_retrieve(seed_qa, "zzzqqq xxyyzz", 5, "dense").passages) == 5


def test_k_bounds_the_number_of_passages(seed_qa: QA) -> None:
    n = seed_qa.index.store.n_chunks
    assert len(_retrieve(seed_qa, IOT_Q, 1).passages) == 1
    assert len(_retrieve(seed_qa, IOT_Q, 3, "dense").passages) == 3
    assert len(_retrieve(seed_qa, IOT_Q, 100, "dense").passages) == n


def test_invalid_mode_raises(seed_qa: QA) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        _retrieve(seed_qa, IOT_Q, 5, "sparse")
    with pytest.raises(InputError, match="mode must be one of"):
        seed_qa.ask(IOT_Q, mode="sparse")


def test_deterministic(seed_qa: QA) -> None:
    a = _retrieve(seed_qa, IOT_Q, 5)
    b = _retrieve(seed_qa, IOT_Q, 5)
    assert a.passages == b.passages
