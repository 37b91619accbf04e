"""The dense side: a FAISS inner-product index over L2-normalised vectors.

Exact search (``IndexFlatIP``) up to ``exact_max`` vectors; above that an HNSW
graph over float16 copies of the vectors (half the memory of float32, the same
neighbours to ~1e-3 in score). The index type, with its parameters, is recorded
in the manifest. ``benchmarks/bench_scale.py`` measures the trade-offs at a
million vectors (build time, memory, latency, recall@10 against exact search).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from citeqa.encode.threads import cores
from citeqa.errors import IndexCorruptError

HNSW_M = 24
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192
BLOCK = 65_536  # vectors added to an index at a time


def new_dense(n: int, dim: int, exact_max: int):
    """An empty index for ``n`` vectors of ``dim`` and a description of its type."""
    import faiss

    if n > exact_max:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index, f"hnsw(M={HNSW_M},efConstruction={HNSW_EF_CONSTRUCTION},storage=fp16)"
    return faiss.IndexFlatIP(dim), "flat"


def build_dense(vecs: np.ndarray, path: Path, exact_max: int) -> str:
    """Write a FAISS index of ``vecs`` to ``path``; returns the index type."""
    dim = vecs.shape[1] if vecs.ndim == 2 and vecs.shape[1] else 1
    vecs = vecs.reshape(-1, dim)
    blocks = (vecs[i : i + BLOCK] for i in range(0, len(vecs), BLOCK))
    return build_dense_blocks(blocks, len(vecs), dim, path, exact_max)


def build_dense_blocks(blocks: Iterable[np.ndarray], n: int, dim: int, path: Path, exact_max: int) -> str:
    """Like :func:`build_dense` for ``n`` vectors given a block at a time (no full copy held in memory)."""
    import faiss

    index, kind = new_dense(n, dim, exact_max)
    faiss.omp_set_num_threads(cores())  # building does use every core
    for block in blocks:
        index.add(np.ascontiguousarray(block, dtype=np.float32))
    if index.ntotal != n:
        raise ValueError(f"expected {n} vectors, got {index.ntotal}")
    faiss.write_index(index, str(path))
    return kind


def append_dense(src: Path, vecs: np.ndarray, dst: Path) -> None:
    """Write to ``dst`` the index ``src`` with ``vecs`` added after its vectors (same type and parameters)."""
    import faiss

    index = load_dense(src, vecs.shape[1] if vecs.ndim == 2 else 0)
    faiss.omp_set_num_threads(cores())
    for i in range(0, len(vecs), BLOCK):
        index.add(np.ascontiguousarray(vecs[i : i + BLOCK], dtype=np.float32))
    faiss.write_index(index, str(dst))


def search_params(index, dead: np.ndarray):
    """FAISS search parameters that skip the ``dead`` rows (None when there are none)."""
    if len(dead) == 0:
        return None
    import faiss

    batch = faiss.IDSelectorBatch(np.ascontiguousarray(dead, dtype=np.int64))
    sel = faiss.IDSelectorNot(batch)
    params = (faiss.SearchParametersHNSW(sel=sel, efSearch=HNSW_EF_SEARCH) if hasattr(index, "hnsw")
              else faiss.SearchParameters(sel=sel))
    params.keep_alive = (batch, sel)  # the SWIG objects must outlive every search
    return params


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


def dense_search(index, qvec: np.ndarray, k: int, params=None) -> list[tuple[int, float]]:
    """The ``k`` nearest ``(row, inner product)`` pairs, best first (``params``: see :func:`search_params`)."""
    if index.ntotal == 0 or k <= 0:
        return []
    import faiss

    # One query gains little from OpenMP threads and, on a busy machine, loses a lot (10-100x measured
    # on 2 cores): search on the calling thread only (the setting is per thread).
    faiss.omp_set_num_threads(1)
    q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
    scores, ids = index.search(q, min(k, index.ntotal), params=params)
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

