"""Do the fast encoders change anything? Seed gold set with three embedders, same everything else.

    python benchmarks/bench_equivalence.py

1. ``st``: the plain sentence-transformers embedder (the behaviour before the numpy encoder);
2. ``numpy``: citeqa's float32 numpy encoder (queries and small builds);
3. ``bulk``: the index built with the bulk path (bfloat16 matmuls, where the CPU has them), numpy queries.

For each: evidence recall@1/3/5 and answer accuracy (``citeqa eval tests/data/seed_qa.jsonl
--min-confidence 0``), and how many of the 83 answers are identical to ``st``'s.
Writes ``benchmarks/results/equivalence.json``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, SEED_CORPUS, SEED_QA, write_result


def run(name: str, embedder: object, bulk_min: int | None = None) -> tuple[dict, list]:
    import citeqa.encode.bert_numpy as encoder_module
    from citeqa.config import Settings
    from citeqa.eval.evaluate import evaluate, load_gold
    from citeqa.qa import QA

    old = encoder_module.BULK_MIN
    if bulk_min is not None:
        encoder_module.BULK_MIN = bulk_min  # the seed corpus is small: force the bulk path for its build
    try:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            qa = QA(Settings(corpus_dir=SEED_CORPUS, index_dir=Path(tmp)), embedder=embedder)  # type: ignore[arg-type]
            qa.build()
            encoder_module.BULK_MIN = old
            gold = load_gold(SEED_QA)
            report, _ = evaluate(qa, gold, k=5, min_confidence=0)
            answers = [qa.ask(g.q, min_confidence=0) for g in gold]
    finally:
        encoder_module.BULK_MIN = old
    figures = {k: v for k, v in report.__dict__.items() if isinstance(v, (int, float, dict))}
    return figures, answers


def main() -> None:
    from citeqa.config import Settings
    from citeqa.encode.bert_torch import native_bf16, torch_available
    from citeqa.encode.embedder import SentenceTransformerEmbedder, make_embedder

    CACHE.mkdir(exist_ok=True)
    model = Settings().model
    ref, ref_answers = run("st", SentenceTransformerEmbedder(model))
    out: dict = {"st": ref, "bulk_path_active": native_bf16() and torch_available()}
    for name, bulk_min in (("numpy", None), ("bulk", 1)):
        figures, answers = run(name, make_embedder(model), bulk_min)
        same = sum(a.answer == b.answer and a.abstained == b.abstained for a, b in zip(ref_answers, answers,
                                                                                           strict=True))
        conf = max(abs(a.confidence - b.confidence) for a, b in zip(ref_answers, answers, strict=True))
        out[name] = {**figures, "answers_identical_to_st": same, "questions": len(answers),
                     "max_confidence_diff_vs_st": conf}
    for name in ("st", "numpy", "bulk"):
        r = out[name]
        extra = (f"; identical answers {r['answers_identical_to_st']}/{r['questions']}, max confidence diff "
                 f"{r['max_confidence_diff_vs_st']:.1e}") if name != "st" else ""
        print(f"{name:>5}: recall@1/3/5 " + " / ".join(f"{r['recall_at'][k]:.3f}" for k in (1, 3, 5)) + extra)
    write_result("equivalence", out)


if __name__ == "__main__":
    main()
