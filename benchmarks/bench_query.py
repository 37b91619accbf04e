"""Warm query latency (``QA.ask``: embed the question, retrieve, answer) with the model and index loaded.

    python benchmarks/bench_query.py [--rounds 3]

On the seed corpus (the 83 gold questions) and on the ~10,000-document
Wikipedia corpus (200 questions made from article titles). Also times the
parts: question embedding, retrieval (dense + BM25 + fusion + chunk fetch).
Writes ``benchmarks/results/query.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, SEED_CORPUS, ensure_index, seed_questions, stats_ms, write_result
from wiki_data import build_corpus, summaries

TEMPLATES = ("What is {}?", "When did {} begin?", "Who is associated with {}?", "Why is {} important?")


def wiki_questions(n: int = 200) -> list[str]:
    items = summaries()
    picks = np.random.default_rng(1).choice(len(items), size=n, replace=False)
    return [TEMPLATES[i % len(TEMPLATES)].format(items[j][0]) for i, j in enumerate(picks)]


def measure(corpus: Path, index_dir: Path, questions: list[str], rounds: int) -> dict:
    from citeqa.answer.retrieve import retrieve
    from citeqa.config import Settings
    from citeqa.qa import QA

    ensure_index(corpus, index_dir)
    settings = Settings(corpus_dir=corpus, index_dir=index_dir)
    t = time.perf_counter()
    qa = QA(settings)
    qa.ask(questions[0])
    first = time.perf_counter() - t
    for q in questions[:10]:
        qa.ask(q)
    total, embed, retr = [], [], []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            qa.ask(q)
            total.append(time.perf_counter() - t0)
    index = qa.index
    for q in questions:
        t0 = time.perf_counter()
        qvec = qa.embedder.embed([q])[0]
        t1 = time.perf_counter()
        retrieve(index, q, qvec, settings.top_k, settings.mode, settings.rrf_k)
        t2 = time.perf_counter()
        embed.append(t1 - t0)
        retr.append(t2 - t1)
    m = index.manifest
    return {"chunks": m["counts"]["chunks"], "sentences": m["counts"]["sentences"], "index_type": m["index_type"],
            "questions": len(questions), "rounds": rounds, "first_ask_s": first, "ask": stats_ms(total),
            "embed_question": stats_ms(embed), "retrieve": stats_ms(retr)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-wiki", action="store_true")
    args = ap.parse_args()
    out = {"seed": measure(SEED_CORPUS, CACHE / "seed_index", seed_questions(), args.rounds)}
    if not args.skip_wiki:
        out["wiki"] = measure(build_corpus(), CACHE / "wiki_index", wiki_questions(), args.rounds)
    for name, r in out.items():
        a = r["ask"]
        print(f"{name}: {r['chunks']} chunks, ask p50 {a['p50_ms']:.1f} ms p95 {a['p95_ms']:.1f} ms "
              f"(embed p50 {r['embed_question']['p50_ms']:.1f} ms, retrieve p50 {r['retrieve']['p50_ms']:.1f} ms)")
    write_result("query", out)


if __name__ == "__main__":
    main()
