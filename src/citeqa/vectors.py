"""The dense side: a FAISS inner-product index over L2-normalised vectors.

Exact search (``IndexFlatIP``) up to ``exact_max`` vectors; above that an HNSW
graph, whose type is recorded in the manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from citeqa.errors import IndexCorruptError

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


def build_dense(vecs: np.ndarray, path: Path, exact_max: int) -> str:
    """Write a FAISS index of ``vecs`` to ``path``; returns the index type."""
    import faiss

    dim = vecs.shape[1] if vecs.ndim == 2 and vecs.shape[1] else 1
    vecs = np.ascontiguousarray(vecs.reshape(-1, dim), dtype=np.float32)
    if len(vecs) > exact_max:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        kind = f"hnsw(M={HNSW_M},efConstruction={HNSW_EF_CONSTRUCTION})"
    else:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    index.add(vecs)
    faiss.write_index(index, str(path))
    return kind


def load_dense(path: Path, dim: int):
    """Read the FAISS index, checking its dimension."""
    import faiss

    try:
        index = faiss.read_index(str(path))
    except Exception as exc:
        raise IndexCorruptError(f"the dense index {path} is damaged or missing; run `citeqa index`") from exc
    if dim and index.d != dim:
        raise IndexCorruptError(f"the dense index {path} has dimension {index.d}, manifest says {dim}")
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def dense_search(index, qvec: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` nearest ``(row, inner product)`` pairs, best first."""
    if index.ntotal == 0 or k <= 0:
        return []
    scores, ids = index.search(np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32), min(k, index.ntotal))
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def dense_scores(index, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
    """Exact inner products for given rows (reconstructed from the index)."""
    out: dict[int, float] = {}
    q = qvec.reshape(-1).astype(np.float32)
    for r in rows:
        try:
            out[r] = float(index.reconstruct(int(r)) @ q)
        except RuntimeError:
            continue
    return out
