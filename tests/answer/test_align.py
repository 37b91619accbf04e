"""Token alignment (pure) and the token vectors it reads: selection, int8 storage, the index's token rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citeqa.answer.align import COVERED, aligned_chars, alignment, token_weights
from citeqa.encode.embedder import HashEmbedder
from citeqa.encode.tokens import (
    PackedTokens,
    TokenVectors,
    content_tokens,
    dequantize,
    project,
    projection,
    quantize,
    random_projection,
)
from citeqa.index.token_store import load_tokens, save_tokens


def _tv(rows: list[list[float]], spans: list[tuple[int, int]]) -> TokenVectors:
    v = np.asarray(rows, dtype=np.float32)
    return TokenVectors(v / np.linalg.norm(v, axis=1, keepdims=True), np.asarray(spans, dtype=np.int32))


def test_alignment_is_the_weighted_mean_of_best_matches() -> None:
    q = _tv([[1, 0, 0], [0, 1, 0]], [(0, 3), (4, 8)])
    s = _tv([[1, 0, 0], [0, 0.5, 0.75**0.5]], [(0, 2), (3, 9)])
    a, cov = alignment(q, np.array([1.0, 3.0], dtype=np.float32), s)
    assert a == pytest.approx((1.0 * 1 + 0.5 * 3) / 4)
    assert cov == pytest.approx(1 / 4), "only the first token's best match reaches COVERED"
    assert 0.5 < COVERED <= 1.0
    assert alignment(q, np.ones(2, np.float32), TokenVectors.empty(3)) == (0.0, 0.0)
    assert alignment(TokenVectors.empty(3), np.ones(0, np.float32), s) == (0.0, 0.0)
    assert aligned_chars(q, s) == [(0, 2)]


def test_question_token_weights_follow_the_idf_of_their_word() -> None:
    question = "Who headed the delegation?"
    toks = TokenVectors(np.eye(3, dtype=np.float32), np.array([[4, 8], [8, 10], [15, 25]], dtype=np.int32))
    w = token_weights(question, toks, {"head": 2.0, "delegation": 5.0})
    assert w.tolist() == [2.0, 2.0, 5.0], "a word piece counts with its whole word"
    assert token_weights(" " * 10 + question[10:], toks, {"delegation": 5.0}).tolist() == [0.0, 0.0, 5.0]


def test_content_tokens_skip_special_tokens_punctuation_and_stop_words() -> None:
    text = "The group was headed by Mr. Yu."
    offsets = np.array([[0, 0], [0, 3], [4, 9], [10, 13], [14, 18], [18, 20], [21, 23], [24, 26], [26, 27],
                        [28, 30], [30, 31], [0, 0]])
    assert content_tokens(text, offsets).tolist() == [2, 4, 5, 7, 9]


def test_int8_rows_keep_cosines() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q, scale = quantize(v)
    assert q.dtype == np.int8 and scale.dtype == np.float32
    back = dequantize(q, scale)
    assert np.abs((back * v).sum(axis=1) / np.linalg.norm(back, axis=1) - 1).max() < 1e-3


def test_hash_embedder_tokens_align_only_equal_words() -> None:
    vecs, (a, b) = HashEmbedder(64).embed_tokens(["Who headed the group?", "The group was headed by Yu."])
    assert vecs.shape == (2, 64) and len(a) == 2 and len(b) == 3
    assert alignment(a, np.ones(2, np.float32), b)[0] == pytest.approx(1.0, abs=1e-5)


def test_token_rows_round_trip_append_and_best_alignment(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)

    def tv(n: int) -> TokenVectors:
        v = rng.standard_normal((n, 8)).astype(np.float32)
        spans = np.arange(2 * n, dtype=np.int32).reshape(n, 2)
        return TokenVectors(v / np.linalg.norm(v, axis=1, keepdims=True), spans)

    proj = np.eye(8, dtype=np.float32)
    first = [tv(3), tv(0), tv(5)]
    save_tokens(tmp_path, PackedTokens.pack(first, 8), proj)
    store = load_tokens(tmp_path)
    assert store.n_sentences == 3 and store.packed.q.dtype == np.int8
    more = tmp_path / "more"
    more.mkdir()
    second = [tv(2), tv(4)]
    save_tokens(more, PackedTokens.pack(second, 8), proj, store)
    grown = load_tokens(more)
    assert grown.n_sentences == 5 and np.array_equal(grown.projection, proj)
    got = grown.sentences(0, 5)
    for a, b in zip(got, first + second):
        assert len(a) == len(b) and np.array_equal(a.spans, b.spans)
        assert np.allclose(a.vectors, b.vectors, atol=0.02)
    q = tv(3)
    w = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    ranges = [(0, 3), (3, 5), (1, 2)]
    best = grown.best_alignment(ranges, q.vectors, w)
    expected = [max((alignment(q, w, t)[0] for t in got[lo:hi]), default=0.0) for lo, hi in ranges]
    assert np.allclose(best, expected, atol=1e-5)
    assert best[2] == 0.0, "a sentence without tokens aligns with nothing"


def test_projection_is_deterministic_orthonormal_and_keeps_near_tokens_near() -> None:
    rng = np.random.default_rng(2)
    word = rng.standard_normal((500, 32)) * np.linspace(3, 0.1, 32)  # a few strong directions
    p = projection(word, 8)
    assert p.shape == (32, 8) and np.allclose(p.T @ p, np.eye(8), atol=1e-5)
    assert np.array_equal(p, projection(word.copy(), 8)), "the same table gives the same matrix"
    r = random_projection(32, 8)
    assert np.allclose(r.T @ r, np.eye(8), atol=1e-5) and np.array_equal(r, random_projection(32, 8))
    assert np.array_equal(random_projection(6, 8), np.eye(6, dtype=np.float32))
    a = TokenVectors(np.eye(32, dtype=np.float32)[:2], np.zeros((2, 2), np.int32))
    pa = project(a, p)
    assert pa.vectors.shape == (2, 8) and np.allclose(np.linalg.norm(pa.vectors, axis=1), 1, atol=1e-5)
    assert project(pa, p) is not None and project(pa, p).vectors.shape == (2, 8), "projected once only"
