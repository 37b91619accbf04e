"""Index build on the ~10,000-document Wikipedia corpus: throughput, peak memory, size, re-index times.

    python benchmarks/bench_build.py [--sample 1000]

1. ``citeqa index`` from scratch (empty embedding cache) in a subprocess: wall
   time, chunks/s over the whole build (chunks and sentences are both
   embedded), peak RSS, size on disk.
2. ``citeqa index`` again with nothing changed, and with one document changed (a little, a lot).
   Then a full build with late-pooled sentence vectors (``CITEQA_SENTENCE_VECTORS=late``), for comparison.
3. In this process, on the same random sample of chunk texts: the baseline
   (plain float32 ``SentenceTransformer.encode``), citeqa's float32 numpy
   encoder and its bulk path, as chunks/s, with the largest differences.
4. Exports the index's vectors to ``.bench/wiki_vectors.npy`` for bench_scale.py.

Writes ``benchmarks/results/build.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, CITEQA, dir_size_mb, machine, run_timed, write_result
from wiki_data import CREDIT, build_corpus

INDEX = CACHE / "wiki_index"
VECTORS = CACHE / "wiki_vectors.npy"


def _index(corpus: Path, index: Path = INDEX, env: dict | None = None) -> dict:
    run = run_timed([str(CITEQA), "index", "--corpus", str(corpus), "--index", str(index)], env=env)
    if run["rc"] != 0:
        raise SystemExit(f"citeqa index failed:\n{run['stderr'][-3000:]}")
    return run


def _live(index: Path = INDEX) -> tuple[Path, dict]:
    folder = index / (index / "CURRENT").read_text().strip()
    return folder, json.loads((folder / "manifest.json").read_text())


def full_build(corpus: Path, index: Path = INDEX, env: dict | None = None) -> dict:
    shutil.rmtree(index, ignore_errors=True)
    load_before = machine()["loadavg_1m"]
    run = _index(corpus, index, env)
    folder, manifest = _live(index)
    counts = manifest["counts"]
    return {
        "seconds": run["seconds"], "peak_rss_mb": run["children_peak_rss_mb"], "loadavg_1m_before": load_before,
        "documents": counts["documents"], "chunks": counts["chunks"], "sentences": counts["sentences"],
        "chunks_per_s": counts["chunks"] / run["seconds"],
        "texts_embedded_per_s": (counts["chunks"] + counts["sentences"]) / run["seconds"],
        "index_type": manifest["index_type"], "index_mb": dir_size_mb(folder),
        "embedding_cache_mb": (index / "embeddings.sqlite").stat().st_size / 2**20, "stdout": run["stdout"].strip(),
    }


def reindex(corpus: Path) -> dict:
    """Re-index with nothing changed, then with one document changed a little and a lot (an update reads and
    embeds only that document), then after restoring it."""
    unchanged = [_index(corpus)["seconds"] for _ in range(3)]
    doc = sorted(corpus.glob("*.txt"))[len(list(corpus.glob("*.txt"))) // 2]
    original = doc.read_text(encoding="utf-8")
    big = "\n\n".join(f"Paragraph {i} of a long addition to test re-indexing: the committee met in {1900 + i} "
                       f"and recorded {i * 7} decisions about roads, bridges and schools in district {i}. "
                       f"Its minutes were published a year later." for i in range(60))
    runs = {}
    try:
        for name, text in (("one_changed", original + "\nThis sentence was added to test re-indexing.\n"),
                           ("one_changed_large", original + "\n\n" + big + "\n")):
            doc.write_text(text, encoding="utf-8")
            runs[name] = _index(corpus)
            runs[name]["chars"] = len(text)
    finally:
        doc.write_text(original, encoding="utf-8")
    restored = _index(corpus)
    out = {"unchanged_s": unchanged, "unchanged_best_s": min(unchanged), "changed_document": doc.name,
           "changed_document_chars": len(original), "restored_s": restored["seconds"],
           "restored_stdout": restored["stdout"].strip()}
    for name, run in runs.items():
        out[f"{name}_s"], out[f"{name}_stdout"] = run["seconds"], run["stdout"].strip()
        out[f"{name}_chars"] = run["chars"]
    return out


def encoder_throughput(corpus: Path, sample: int) -> dict:
    """chunks/s of the baseline and of citeqa's encoders on one random sample of chunk texts."""
    from citeqa.config import Settings
    from citeqa.encode.embedder import SentenceTransformerEmbedder, make_embedder
    from citeqa.ingest.chunking import chunk_corpus
    from citeqa.ingest.files import load_corpus

    settings = Settings()
    docs, _ = load_corpus(corpus)
    chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
    rng = np.random.default_rng(0)
    texts = [chunks[i].embed_text for i in rng.choice(len(chunks), size=min(sample, len(chunks)), replace=False)]
    out: dict = {"sample_chunks": len(texts), "mean_chars": float(np.mean([len(t) for t in texts]))}
    enc = make_embedder(settings.model)
    enc.embed(texts[:8])
    t = time.perf_counter()
    mine = enc.embed(texts)
    out["numpy_fp32_chunks_per_s"] = len(texts) / (time.perf_counter() - t)
    enc.embed_many(texts[:128])
    t = time.perf_counter()
    bulk = enc.embed_many(texts)
    out["bulk_chunks_per_s"] = len(texts) / (time.perf_counter() - t)
    model = SentenceTransformerEmbedder(settings.model)  # the trained model's kept base weights put back
    model.embed(texts[:8])
    t = time.perf_counter()
    ref = model.embed(texts)
    out["baseline_st_fp32_chunks_per_s"] = len(texts) / (time.perf_counter() - t)
    for name, v in (("numpy_fp32", mine), ("bulk", bulk)):
        out[f"{name}_max_abs_diff"] = float(np.abs(v - ref).max())
        out[f"{name}_min_cosine"] = float((v * ref).sum(axis=1).min())
    return out


def export_vectors() -> None:
    """Chunk and sentence vectors of the live index, for the scale benchmark."""
    from citeqa.index.vectors import load_dense

    folder, manifest = _live()
    dense = load_dense(folder / "dense.faiss", manifest["dimension"])
    chunks = dense.reconstruct_n(0, dense.ntotal)
    sents = np.load(folder / "sentences.npy").astype(np.float32)
    np.save(VECTORS, np.vstack([chunks, sents]).astype(np.float32))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=1000, help="chunks in the encoder throughput sample")
    args = ap.parse_args()
    corpus = build_corpus()
    build = full_build(corpus)
    print(f"full build: {build['chunks']} chunks + {build['sentences']} sentences in {build['seconds']:.1f} s "
          f"= {build['chunks_per_s']:.1f} chunks/s; peak RSS {build['peak_rss_mb']:.0f} MiB; "
          f"index {build['index_mb']:.1f} MiB + cache {build['embedding_cache_mb']:.1f} MiB", flush=True)
    re = reindex(corpus)
    print(f"re-index unchanged {re['unchanged_best_s']:.2f} s; one document changed {re['one_changed_s']:.2f} s "
          f"({re['one_changed_chars']} chars), {re['one_changed_large_s']:.2f} s ({re['one_changed_large_chars']} "
          f"chars); restored {re['restored_s']:.2f} s", flush=True)
    export_vectors()
    late = full_build(corpus, CACHE / "wiki_index_late", {"CITEQA_SENTENCE_VECTORS": "late"})
    shutil.rmtree(CACHE / "wiki_index_late", ignore_errors=True)
    print(f"full build with late-pooled sentence vectors: {late['seconds']:.1f} s = {late['chunks_per_s']:.1f} "
          "chunks/s", flush=True)
    enc = encoder_throughput(corpus, args.sample)
    ratio = build["chunks_per_s"] / enc["baseline_st_fp32_chunks_per_s"]
    late["vs_baseline"] = late["chunks_per_s"] / enc["baseline_st_fp32_chunks_per_s"]
    print(f"baseline {enc['baseline_st_fp32_chunks_per_s']:.1f} chunks/s; numpy fp32 "
          f"{enc['numpy_fp32_chunks_per_s']:.1f}; bulk {enc['bulk_chunks_per_s']:.1f}; "
          f"whole build / baseline = {ratio:.2f}x (late-pooled sentence vectors {late['vs_baseline']:.2f}x)",
          flush=True)
    write_result("build", {"corpus": str(corpus), "credit": CREDIT, "full_build": build, "reindex": re,
                           "full_build_late_sentence_vectors": late, "encoders": enc, "build_vs_baseline": ratio})


if __name__ == "__main__":
    main()
