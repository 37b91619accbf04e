"""Token alignment as a sentence scorer on its own, stored in different ways (docs/quality.md, issue #11).

    .venv/bin/python benchmarks/align_variants.py [--squad FILE]

For every answerable question of the seed gold set and of the six SQuAD 2.0 articles, the five passages citeqa
retrieves give the candidate sentences; a scorer is right when its best sentence holds a gold answer (questions
whose candidates hold none are left out). Scorers: the cosine of pooled sentence vectors, and the IDF-weighted
token alignment (:func:`citeqa.answer.align.alignment`) of the sentence's own pass (section — lead-in —
sentence) with the question's, its tokens kept as float32 (every token), as int8 content tokens, projected to
128 or 64 dimensions (principal directions of the word table; or random), or as sign bits. Writes
``benchmarks/results/align_variants.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from citeqa.answer.align import token_weights  # noqa: E402
from citeqa.config import load_settings  # noqa: E402
from citeqa.encode.embedder import make_embedder  # noqa: E402
from citeqa.encode.tokens import (  # noqa: E402
    TokenVectors,
    content_tokens,
    dequantize,
    projection,
    quantize,
    random_projection,
)
from citeqa.eval.evaluate import answer_hit  # noqa: E402
from citeqa.eval.fit import collect, collect_gold  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "align_variants.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared" / "squad2" / "dev-v2.0-articles-0-5.json")
    args = ap.parse_args()
    settings = load_settings()
    enc = make_embedder(settings.model)
    samples = collect(args.squad, ROOT / ".bench" / "squad", enc, settings, off_topic=1)
    samples += collect_gold([(ROOT / "corpus", ROOT / "tests" / "data" / "seed_qa.jsonl")],
                            ROOT / ".bench" / "squad" / "gold", enc, settings)
    states: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}

    def run(text: str) -> tuple[np.ndarray, np.ndarray, str]:
        if text not in states:
            e = enc.tokenizer.encode(text)
            ids = e.ids[: enc.max_len]
            h = enc.hidden([ids])[0]
            states[text] = (h / np.linalg.norm(h, axis=1, keepdims=True), np.array(e.offsets[: len(ids)]), text)
        return states[text]

    def every(text: str) -> np.ndarray:
        h, off, _ = run(text)
        return h[off[:, 1] > off[:, 0]]

    def content(text: str) -> np.ndarray:
        h, off, t = run(text)
        q, s = quantize(h[content_tokens(t, off)])
        return dequantize(q, s)

    def projected(matrix: np.ndarray) -> Callable[[str], np.ndarray]:
        def f(text: str) -> np.ndarray:
            v = content(text) @ matrix
            return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return f

    word = projection(enc.word, 128)
    variants: dict[str, tuple[Callable[[str], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
        "alignment, float32, every token": (every, lambda v: v),
        "alignment, int8, content tokens": (content, lambda v: v),
        "int8, projected to 128 (word table)": (projected(word), lambda v: v),
        "int8, projected to 64 (word table)": (projected(projection(enc.word, 64)), lambda v: v),
        "int8, random projection to 128": (projected(random_projection(word.shape[0], 128)), lambda v: v),
        "sign bits": (content, np.sign),
    }
    right: dict[str, dict[str, list[bool]]] = {"seed": {}, "squad": {}}
    for s in samples:
        if not s.q.answerable:
            continue
        cands = [(p, vecs, i) for p, vecs in zip(s.passages, s.vectors) for i in range(len(p.chunk.sentences))]
        hits = [answer_hit(p.chunk.sentence(i), s.q.answers) for p, _, i in cands]
        if not any(hits):
            continue
        group = right["seed" if s.article == "seed_qa" else "squad"]
        cos = [float(vecs[i] @ s.qvec) for _, vecs, i in cands]
        group.setdefault("cosine of pooled sentence vectors", []).append(hits[int(np.argmax(cos))])
        qh, qoff, qt = run(s.q.question)
        for name, (tokens, post) in variants.items():
            full = name == "alignment, float32, every token"
            qidx = np.flatnonzero(qoff[:, 1] > qoff[:, 0]) if full else content_tokens(qt, qoff)
            q = qh[qidx] if full else tokens(s.q.question)
            w = token_weights(qt, TokenVectors(q, qoff[qidx].astype(np.int32)), s.idf)
            scores = []
            for p, _, i in cands:
                t = tokens(p.chunk.sentence_embed_text(i))
                scores.append(float((post(q) @ post(t).T).max(axis=1) @ w / (w.sum() or 1.0)) if len(t) else 0.0)
            group.setdefault(name, []).append(hits[int(np.argmax(scores))])
    table = {g: {k: (float(np.mean(v)), len(v)) for k, v in d.items()} for g, d in right.items()}
    OUT.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print("| scorer | seed gold set | SQuAD six articles |\n|---|---:|---:|")
    for name in table["seed"]:
        (a, n1), (b, n2) = table["seed"][name], table["squad"][name]
        print(f"| {name} | {a:.3f} ({n1}) | {b:.3f} ({n2}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
