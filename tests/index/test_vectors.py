"""Tests for citeqa.index.vectors: index type by size, exact and approximate search, block builds, damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citeqa.errors import IndexCorruptError
from citeqa.index.vectors import build_dense, build_dense_blocks, dense_scores, dense_search, load_dense


def _unit(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _clustered(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = _unit(max(1, n // 20), dim, seed + 1)
    v = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32) / dim**0.5
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_flat_up_to_exact_max_is_exact(tmp_path: Path) -> None:
    vecs = _unit(300)
    kind = build_dense(vecs, tmp_path / "d.faiss", exact_max=300)
    assert kind == "flat"
    index = load_dense(tmp_path / "d.faiss", 32)
    q = vecs[7]
    hits = dense_search(index, q, 10)
    exact = np.argsort(-(vecs @ q))[:10]
    assert [r for r, _ in hits] == exact.tolist()
    assert hits[0] == (7, pytest.approx(1.0, abs=1e-5))
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_hnsw_above_exact_max_is_named_and_finds_neighbours(tmp_path: Path) -> None:
    vecs = _clustered(3000)
    kind = build_dense(vecs, tmp_path / "d.faiss", exact_max=1000)
    assert kind.startswith("hnsw(") and "M=" in kind and "efConstruction=" in kind
    index = load_dense(tmp_path / "d.faiss", 32)
    assert index.ntotal == 3000 and index.hnsw.efSearch >= 40
    queries = _clustered(50, seed=9)
    recall = []
    for q in queries:
        exact = set(np.argsort(-(vecs @ q))[:10].tolist())
        recall.append(len({r for r, _ in dense_search(index, q, 10)} & exact) / 10)
    assert np.mean(recall) >= 0.95
    scores = dense_scores(index, queries[0], [0, 1, 2])
    np.testing.assert_allclose([scores[r] for r in (0, 1, 2)], vecs[:3] @ queries[0], atol=2e-3)  # float16 copies


def test_block_build_equals_one_shot_build(tmp_path: Path) -> None:
    vecs = _unit(500)
    build_dense(vecs, tmp_path / "a.faiss", exact_max=10_000)
    build_dense_blocks((vecs[i : i + 64] for i in range(0, 500, 64)), 500, 32, tmp_path / "b.faiss", 10_000)
    a, b = load_dense(tmp_path / "a.faiss", 32), load_dense(tmp_path / "b.faiss", 32)
    np.testing.assert_array_equal(a.reconstruct_n(0, 500), b.reconstruct_n(0, 500))
    with pytest.raises(ValueError, match="expected 501"):
        build_dense_blocks(iter([vecs]), 501, 32, tmp_path / "c.faiss", 10_000)


def test_empty_and_small_k(tmp_path: Path) -> None:
    build_dense(np.zeros((0, 32), dtype=np.float32), tmp_path / "e.faiss", exact_max=10)
    index = load_dense(tmp_path / "e.faiss", 32)
    assert dense_search(index, _unit(1)[0], 5) == []
    build_dense(_unit(3), tmp_path / "s.faiss", exact_max=10)
    small = load_dense(tmp_path / "s.faiss", 32)
    assert len(dense_search(small, _unit(1)[0], 10)) == 3
    assert dense_search(small, _unit(1)[0], 0) == []


def test_damaged_or_mismatched_index_is_refused(tmp_path: Path) -> None:
    build_dense(_unit(10), tmp_path / "d.faiss", exact_max=100)
    with pytest.raises(IndexCorruptError, match="dimension"):
        load_dense(tmp_path / "d.faiss", 64)
    (tmp_path / "bad.faiss").write_bytes(b"not an index")
    with pytest.raises(IndexCorruptError):
        load_dense(tmp_path / "bad.faiss", 32)
    with pytest.raises(IndexCorruptError):
        load_dense(tmp_path / "missing.faiss", 32)
