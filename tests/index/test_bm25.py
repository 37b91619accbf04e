"""Tests for citeqa.index.bm25: ranking, scores and the pickle-free save/load round trip."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from citeqa.errors import IndexCorruptError
from citeqa.index.bm25 import BM25
from citeqa.ingest.terms import terms

TEXTS = [
    "The EU-China IoT Advisory Group was established in February 2011.",
    "The Broadband Policy Expert Group was established in December 2012.",
    "Cloud computing and ubiquitous networks were researched together.",
    "Smart cities improve urban efficiency and public service.",
    "The cat sat on the mat.",
]


@pytest.fixture()
def bm25() -> BM25:
    return BM25.build(TEXTS)


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("When was the IoT Advisory Group established?", 0),
        ("broadband policy", 1),
        ("cloud computing research", 2),
        ("urban efficiency of smart cities", 3),
        ("cats", 4),
    ],
)
def test_obvious_chunk_ranks_first(bm25: BM25, query: str, best: int) -> None:
    top = bm25.top(query, 3)
    assert top[0][0] == best
    assert all(a[1] >= b[1] for a, b in pairwise(top))


def test_scores_follow_okapi(bm25: BM25) -> None:
    k1, b = 1.2, 0.75
    docs = [terms(t) for t in TEXTS]
    avg = sum(map(len, docs)) / len(docs)
    q = "established group"
    expected = np.zeros(len(docs))
    for t in terms(q):
        df = sum(t in d for d in docs)
        idf = math.log1p((len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(t)
            expected[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg))
    np.testing.assert_allclose(bm25.scores(terms(q)), expected, rtol=1e-5)


def test_unknown_terms_score_zero_and_top_is_empty(bm25: BM25) -> None:
    assert not bm25.scores(["zzzunknown"]).any()
    assert bm25.top("zzzunknown qqq", 5) == []
    assert bm25.top("", 5) == []


def test_term_idf(bm25: BM25) -> None:
    assert bm25.term_idf("group") < bm25.term_idf("cat")
    assert bm25.term_idf("never-seen") >= bm25.term_idf("cat")


def test_top_k_larger_than_corpus(bm25: BM25) -> None:
    top = bm25.top("group established cat", 50)
    assert sorted(r for r, _ in top) == [0, 1, 4]


def test_empty_index() -> None:
    empty = BM25.build([])
    assert empty.n_docs == 0
    assert empty.top("anything", 5) == []
    assert len(empty.scores(["anything"])) == 0


def test_save_load_round_trip_without_pickle(bm25: BM25, tmp_path: Path) -> None:
    bm25.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25.npz", "bm25_vocab.json"]
    with np.load(tmp_path / "bm25.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    assert isinstance(json.loads((tmp_path / "bm25_vocab.json").read_text(encoding="utf-8")), list)
    loaded = BM25.load(tmp_path)
    assert loaded.vocab == bm25.vocab
    assert loaded.n_docs == bm25.n_docs
    for q in ("IoT group", "smart city", "cat mat", "nothing"):
        np.testing.assert_array_equal(loaded.scores(terms(q)), bm25.scores(terms(q)))
        assert loaded.top(q, 5) == bm25.top(q, 5)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "bm25.npz").write_bytes(b""),
        lambda d: (d / "bm25.npz").write_bytes((d / "bm25.npz").read_bytes()[:100]),
        lambda d: (d / "bm25.npz").write_bytes(b"garbage"),
        lambda d: (d / "bm25.npz").unlink(),
        lambda d: (d / "bm25_vocab.json").write_text("[", encoding="utf-8"),
        lambda d: (d / "bm25_vocab.json").write_text('["only-one"]', encoding="utf-8"),
    ],
    ids=["empty-npz", "truncated-npz", "garbage-npz", "missing-npz", "bad-json", "short-vocab"],
)
def test_damaged_files_raise_index_corrupt(bm25: BM25, tmp_path: Path, damage) -> None:
    bm25.save(tmp_path)
    damage(tmp_path)
    with pytest.raises(IndexCorruptError, match="citeqa index"):
        BM25.load(tmp_path)


def test_pickled_array_is_refused(bm25: BM25, tmp_path: Path) -> None:
    bm25.save(tmp_path)
    np.savez(tmp_path / "bm25.npz", indptr=bm25.indptr, indices=bm25.indices, idf=bm25.idf,
             weights=np.array([object()], dtype=object), n_docs=np.array([bm25.n_docs]))
    with pytest.raises(IndexCorruptError):
        BM25.load(tmp_path)
