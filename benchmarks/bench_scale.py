"""Scale: the dense and BM25 sides from 1,000 to 1,000,000 chunks.

    python benchmarks/bench_scale.py [--sizes 1000,10000,100000,200000,1000000]

Dense: 384-dim vectors *derived from real embeddings*: each is one of the
Wikipedia index's chunk or sentence vectors (``.bench/wiki_vectors.npy``, from
bench_build.py) plus Gaussian noise (norm 0.6, so copies of one base vector
have cosine ~0.74 with each other), normalised. Queries are made the same way.
The index type is chosen by size exactly as ``citeqa index`` does
(``vectors.build_dense_blocks`` with ``Settings().exact_search_max``). Reports
build time, peak RSS of the process (generate, build, save, reload, search),
search p50/p95 for the 40 neighbours retrieval asks for, and recall@10 against
exact search.

BM25: synthetic chunks of ~80 words drawn from a Zipf(1.07) vocabulary of
300,000 made-up words; queries of 4 words of middling frequency. Reports
``BM25.build`` time, peak RSS and ``BM25.top(query, 40)`` p50/p95.

Each size and side runs in its own process, for a clean peak-memory figure.
Writes ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, ENV, load_result, peak_rss_mb, rss_mb, stats_ms, write_result

DIM, NOISE, QUERIES, BLOCK = 384, 0.6, 200, 65_536
VOCAB, WORDS_PER_CHUNK, ZIPF = 300_000, 80, 1.07
VECTORS = CACHE / "wiki_vectors.npy"


def _bases() -> tuple[np.ndarray, str]:
    if VECTORS.is_file():
        return np.load(VECTORS), "wiki embeddings + noise"
    rng = np.random.default_rng(7)  # no wiki index yet: random centres (harder than real data)
    base = rng.standard_normal((50_000, DIM)).astype(np.float32)
    return base / np.linalg.norm(base, axis=1, keepdims=True), "random centres + noise (run bench_build.py first)"


def _derive(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = base[rng.integers(0, len(base), n)] + NOISE * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _blocks(base: np.ndarray, n: int):
    for i, start in enumerate(range(0, n, BLOCK)):
        yield _derive(base, min(BLOCK, n - start), seed=1000 + i)


def dense(n: int) -> dict:
    from citeqa.config import Settings
    from citeqa.index.vectors import build_dense_blocks, dense_search, load_dense

    base, source = _bases()
    queries = _derive(base, QUERIES, seed=1)
    truth_s = np.full((QUERIES, 10), -np.inf, dtype=np.float32)
    truth_i = np.zeros((QUERIES, 10), dtype=np.int64)
    for i, block in enumerate(_blocks(base, n)):  # exact top 10, a block at a time
        s = queries @ block.T
        s_all = np.hstack([truth_s, s])
        i_all = np.hstack([truth_i, np.arange(i * BLOCK, i * BLOCK + len(block))[None].repeat(QUERIES, 0)])
        top = np.argsort(-s_all, axis=1)[:, :10]
        truth_s, truth_i = np.take_along_axis(s_all, top, 1), np.take_along_axis(i_all, top, 1)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        path = Path(tmp) / "dense.faiss"
        t = time.perf_counter()
        kind = build_dense_blocks(_blocks(base, n), n, DIM, path, Settings().exact_search_max)
        build_s = time.perf_counter() - t
        size_mb = path.stat().st_size / 2**20
        del base
        gc.collect()
        t = time.perf_counter()
        index = load_dense(path, DIM)
        load_s = time.perf_counter() - t
        for q in queries[:20]:
            dense_search(index, q, 40)
        times, hits = [], []
        for q, truth in zip(queries, truth_i, strict=True):
            t = time.perf_counter()
            found = dense_search(index, q, 40)
            times.append(time.perf_counter() - t)
            hits.append(len({r for r, _ in found[:10]} & set(truth.tolist())) / 10)
        sweep = {}
        if hasattr(index, "hnsw"):  # the latency / recall trade-off of efSearch (the default is marked)
            for ef in (64, 96, 128, 192, 256, 384, 512):
                index.hnsw.efSearch = ef
                t = time.perf_counter()
                found_all = [dense_search(index, q, 40) for q in queries]
                per_query_ms = (time.perf_counter() - t) / QUERIES * 1e3
                rec = np.mean([len({r for r, _ in f[:10]} & set(tr.tolist())) / 10
                               for f, tr in zip(found_all, truth_i, strict=True)])
                sweep[str(ef)] = {"mean_ms": per_query_ms, "recall_at_10": float(rec)}
    return {"n": n, "vectors": source, "index_type": kind, "build_s": build_s, "load_s": load_s,
            "file_mb": size_mb, "search_k40": stats_ms(times), "recall_at_10": float(np.mean(hits)),
            "peak_rss_mb": peak_rss_mb(), "rss_serving_mb": rss_mb(), "ef_search_sweep": sweep}


def _zipf_words(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    letters = np.array(list("bcdfghjklmnprstvwxz"))
    vowels = np.array(list("aeiou"))
    words = set()
    while len(words) < VOCAB:  # pronounceable made-up words, 2-4 syllables
        k = int(rng.integers(2, 5))
        words.add("".join(c + v for c, v in zip(rng.choice(letters, k), rng.choice(vowels, k), strict=True)))
    vocab = np.array(sorted(words))
    rng.shuffle(vocab)
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF
    return vocab, np.cumsum(p / p.sum())


def bm25(n: int) -> dict:
    from citeqa.index.bm25 import BM25

    rng = np.random.default_rng(3)
    vocab, cdf = _zipf_words(rng)

    def texts():
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            lens = rng.integers(WORDS_PER_CHUNK // 2, WORDS_PER_CHUNK * 3 // 2, m)
            ids = np.searchsorted(cdf, rng.random(int(lens.sum())))
            for part in np.split(vocab[ids], np.cumsum(lens)[:-1]):
                yield " ".join(part)

    t = time.perf_counter()
    index = BM25.build(texts())
    build_s = time.perf_counter() - t
    qs = [" ".join(vocab[rng.integers(50, 50_000, 4)]) for _ in range(QUERIES)]
    for q in qs[:20]:
        index.top(q, 40)
    times = []
    for q in qs:
        t = time.perf_counter()
        index.top(q, 40)
        times.append(time.perf_counter() - t)
    return {"n": n, "build_s": build_s, "postings": int(index.indptr[-1]), "terms": len(index.vocab),
            "top_k40": stats_ms(times), "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,200000,1000000")
    ap.add_argument("--sides", default="dense,bm25")
    ap.add_argument("--merge", action="store_true", help="keep other sizes' results from the last scale.json")
    ap.add_argument("--one", choices=("dense", "bm25"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps((dense if args.one == "dense" else bm25)(args.n)))
        return
    out: dict = {"dense": [], "bm25": [], "noise": NOISE, "zipf": ZIPF, "vocabulary": VOCAB}
    if args.merge and (old := load_result("scale")):
        out.update({k: old[k] for k in ("dense", "bm25")})
    t0 = time.perf_counter()
    for n in (int(s) for s in args.sizes.split(",")):
        for side in args.sides.split(","):
            proc = subprocess.run([sys.executable, __file__, "--one", side, "--n", str(n)], env=ENV,
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"{side} at {n} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            out[side] = sorted([x for x in out[side] if x["n"] != n] + [r], key=lambda x: x["n"])
            if side == "dense":
                print(f"dense {n:>9,}: {r['index_type']}, build {r['build_s']:.1f} s, search p50 "
                      f"{r['search_k40']['p50_ms']:.2f} ms p95 {r['search_k40']['p95_ms']:.2f} ms, recall@10 "
                      f"{r['recall_at_10']:.3f}, peak RSS {r['peak_rss_mb']:.0f} MiB", flush=True)
            else:
                print(f"bm25  {n:>9,}: build {r['build_s']:.1f} s, top-40 p50 {r['top_k40']['p50_ms']:.2f} ms "
                      f"p95 {r['top_k40']['p95_ms']:.2f} ms, peak RSS {r['peak_rss_mb']:.0f} MiB", flush=True)
    out["last_run_s"] = time.perf_counter() - t0
    write_result("scale", out)


if __name__ == "__main__":
    main()
