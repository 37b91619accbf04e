"""Fitting the answerer's weights on data: ``python -m citeqa.eval.fit --squad FILE [--write | --out PATH]``.

Two logistic models, fitted with plain numpy (L2-regularised IRLS): 1. the sentence scorer: per candidate
sentence, does it contain a gold answer? 2. the confidence: per question, does the chosen answer hold
(unanswerable questions count as "does not hold")? Without ``--write`` or ``--out`` nothing is written.

The default threshold answers when the calibrated probability that the answer holds is at least
``1 / (1 + WRONG_REFUSAL_COST)`` and never lets more than 5% of out-of-corpus questions through; the one that
maximises overall accuracy (hits plus correct abstentions) on the pooled data is kept as the strict one.
Leave-one-article-out cross-validation reports how the fitted weights do on an article they never saw.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa.answer.calibration import (
    CONFIDENCE_FEATURES,
    SENTENCE_FEATURES,
    Calibration,
    calibration_path,
    load_calibration,
)
from citeqa.answer.extract import extract_answer, sentence_features
from citeqa.answer.retrieve import retrieve
from citeqa.config import Settings, load_settings
from citeqa.encode.embedder import Embedder, make_embedder
from citeqa.encode.tokens import TokenVectors
from citeqa.eval.evaluate import answer_hit, load_gold
from citeqa.eval.squad import SquadQuestion, load_squad, prepare_article
from citeqa.ingest.terms import terms
from citeqa.models import Passage, sha256_hex
from citeqa.qa import QA

OFF_TOPIC_REFUSAL = 0.95
# Refusing a question the documents answer costs as much as four wrong quotes: a wrong quote is marked
# low-confidence and checked in one click, a refusal leaves the user with nothing. Answering is then worth it
# when P(answer holds) >= 1 / (1 + 4) = 0.2 (the confidence is calibrated on held-out articles).
WRONG_REFUSAL_COST = 4.0


@dataclass(frozen=True)
class Sample:
    """One question's retrieval, kept so that answers can be re-extracted with new weights."""

    article: str
    q: SquadQuestion
    qvec: np.ndarray
    passages: tuple[Passage, ...]
    vectors: tuple[np.ndarray, ...]
    idf: dict[str, float]
    tokens: tuple[tuple[TokenVectors, ...], ...] = ()
    qtokens: TokenVectors | None = None


def collect(
    path: Path, work: Path, embedder: Embedder, settings: Settings, k: int = 5, off_topic: int = 50
) -> list[Sample]:
    """Retrieve for every question of every article once.

    Besides each article's own questions, ``off_topic`` questions drawn from the
    other articles are asked against it (unanswerable there by construction), so
    that the confidence also learns what an out-of-corpus question looks like.
    """
    out: list[Sample] = []
    articles = load_squad(path)
    for ai, art in enumerate(articles):
        folder = prepare_article(art, work)
        qa = QA(settings.with_(corpus_dir=folder / "corpus", index_dir=folder / "index"), embedder=embedder)
        qa.build()
        others = [q for aj, o in enumerate(articles) if aj != ai for q in o.questions]
        foreign = [
            SquadQuestion(f"off-{q.id}", q.question, (), -1) for q in others[ai :: max(1, len(others) // off_topic)]
        ]
        asked = list(art.questions) + foreign[:off_topic]
        out += ask_all(qa, art.title, asked, embedder, settings, k)
        print(f"collected {art.title}: {len(art.questions)} questions", file=sys.stderr)
    return out


def ask_all(qa: QA, name: str, asked: Sequence[SquadQuestion], embedder: Embedder, settings: Settings,
            k: int = 5) -> list[Sample]:
    """Retrieve once for each question (its vector and tokens from one batched pass)."""
    with_tokens = getattr(embedder, "embed_tokens", None)
    texts = [q.question for q in asked]
    qvecs, qtoks = with_tokens(texts) if with_tokens else (embedder.embed(texts), [None] * len(texts))
    out = []
    for q, qvec, qtok in zip(asked, qvecs, qtoks):
        qtok = qa.index.tokens.project(qtok)
        got = retrieve(qa.index, q.question, qvec, k, "hybrid", settings.rrf_k, qtok)
        idf = {t: qa.index.bm25.weight(t) for t in set(terms(q.question))}
        out.append(Sample(name, q, qvec, got.passages, got.sentence_vectors, idf, got.sentence_tokens, qtok))
    return out


def collect_gold(pairs: Sequence[tuple[Path, Path]], work: Path, embedder: Embedder, settings: Settings,
                 k: int = 5) -> list[Sample]:
    """Samples from gold sets (``(corpus folder, gold file)``); their out-of-corpus questions count as
    off-topic ones (for the refusal floor)."""
    out: list[Sample] = []
    for corpus, gold in pairs:
        items = load_gold(gold)
        index_dir = work / f"{corpus.name}-{sha256_hex(str(corpus.resolve()))[:8]}"
        qa = QA(settings.with_(corpus_dir=corpus, index_dir=index_dir), embedder=embedder)
        qa.build()
        asked = [SquadQuestion(("off-" if it.kind == "out-of-corpus" else "") + f"{gold.stem}-{n}", it.q,
                               tuple(it.answers), 0 if it.answers else -1) for n, it in enumerate(items)]
        out += ask_all(qa, gold.stem, asked, embedder, settings, k)
        print(f"collected {gold.name}: {len(items)} questions", file=sys.stderr)
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (features standardised inside)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(z @ w, -30, 30)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = w[:-1] / sd
    return weights, float(w[-1] - (weights * mu).sum())


def sentence_groups(samples: Sequence[Sample]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per answerable question with a correct candidate: (features, labels) of its sentences."""
    groups = []
    for s in samples:
        if not s.q.answerable:
            continue
        xs, ys = [], []
        for pi, si, f in sentence_features(s.q.question, s.qvec, s.passages, s.vectors, s.idf, s.tokens, s.qtokens):
            chunk = s.passages[pi].chunk
            span = chunk.sentences[si]
            quote = chunk.text[span.start - chunk.start : span.end - chunk.start]
            xs.append([f[k] for k in SENTENCE_FEATURES])
            ys.append(float(answer_hit(quote, s.q.answers)))
        if any(ys) and not all(ys):
            groups.append((np.array(xs), np.array(ys)))
    return groups


def fit_listwise(groups: Sequence[tuple[np.ndarray, np.ndarray]], l2: float = 1.0) -> np.ndarray:
    """Weights maximising the softmax probability of the correct sentences of each question."""
    from scipy.optimize import minimize

    allx = np.vstack([g[0] for g in groups])
    mu, sd = allx.mean(0), allx.std(0) + 1e-9
    zs = [((x - mu) / sd, y.astype(bool)) for x, y in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * l2 * w @ w, l2 * w
        for z, pos in zs:
            s = z @ w
            s = s - s.max()
            e = np.exp(s)
            p_all = e / e.sum()
            p_pos = e * pos / (e * pos).sum()
            total -= np.log((e * pos).sum() / e.sum())
            grad = grad + z.T @ (p_all - p_pos)
        return float(total), grad

    res = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B")
    return res.x / sd


def answers(samples: Sequence[Sample], cal: Calibration) -> list[tuple[np.ndarray, bool, bool]]:
    """``(confidence features, hit, answerable)`` per question, never abstaining."""
    out = []
    for s in samples:
        a = extract_answer(s.q.question, s.qvec, s.passages, s.vectors, s.idf, cal, 0.0, s.tokens, s.qtokens)
        hit = s.q.answerable and answer_hit(a.answer, s.q.answers)
        out.append((np.array([a.features.get(k, 0.0) for k in CONFIDENCE_FEATURES]), hit, s.q.answerable))
    return out


def best_threshold(conf: np.ndarray, hit: np.ndarray, answerable: np.ndarray) -> tuple[float, float]:
    """The threshold maximising (hits answered + unanswerables refused) / n, and that accuracy."""
    best = (0.0, -1.0)
    for t in np.unique(np.concatenate([[0.0], conf, [1.0 + 1e-9]])):
        answered = conf >= t
        acc = ((hit & answered).sum() + (~answerable & ~answered).sum()) / len(conf)
        if acc > best[1] + 1e-12:
            best = (float(t), float(acc))
    return best


def refusal_threshold(off_topic_conf: np.ndarray, rate: float = OFF_TOPIC_REFUSAL) -> float:
    """The lowest threshold that refuses at least ``rate`` of the out-of-corpus questions."""
    if not len(off_topic_conf):
        return 0.5
    return float(np.quantile(off_topic_conf, rate, method="higher")) + 1e-4


def cost_threshold(wrong_refusal_cost: float = WRONG_REFUSAL_COST) -> float:
    """The confidence above which answering costs less on average than refusing."""
    return 1.0 / (1.0 + wrong_refusal_cost)


def fit(samples: Sequence[Sample], base: Calibration, source: str) -> Calibration:
    """Fit the sentence scorer, then the confidence, then pick the default threshold.

    The default threshold is the expected-cost one, ``1 / (1 + WRONG_REFUSAL_COST)``
    (wrongly refusing a question the documents answer costs a user more than a
    low-confidence quote they can check in one click), raised if needed until
    95% of out-of-corpus questions are refused. The threshold that maximises
    SQuAD's overall accuracy is kept as ``strict_threshold`` for users who
    prefer fewer, surer answers.
    """
    sw = fit_listwise(sentence_groups(samples))
    cal = Calibration(
        dict(zip(SENTENCE_FEATURES, map(float, sw))),
        base.confidence_weights,
        base.confidence_bias,
        base.threshold,
        source,
    )
    rows = answers(samples, cal)
    cx = np.array([r[0] for r in rows])
    cy = np.array([float(r[1]) for r in rows])
    cw, cb = fit_logistic(cx, cy)
    cal = Calibration(cal.sentence_weights, dict(zip(CONFIDENCE_FEATURES, map(float, cw))), cb, 0.5, source)
    conf = np.array([cal.confidence(dict(zip(CONFIDENCE_FEATURES, r[0]))) for r in rows])
    own = np.array([not s.q.id.startswith("off-") for s in samples])
    strict, _ = best_threshold(conf[own], cy.astype(bool)[own], np.array([r[2] for r in rows])[own])
    floor = refusal_threshold(conf[~own])
    t = max(floor, cost_threshold())
    return Calibration(cal.sentence_weights, cal.confidence_weights, cb, round(t, 4), source, round(strict, 4),
                       round(floor, 4))


def score(samples: Sequence[Sample], cal: Calibration) -> dict[str, float]:
    """Figures on the article's own questions, and the refusal rate of off-topic ones."""
    off = [s for s in samples if s.q.id.startswith("off-")]
    samples = [s for s in samples if not s.q.id.startswith("off-")]
    off_rows = answers(off, cal)
    refused = [cal.confidence(dict(zip(CONFIDENCE_FEATURES, r[0]))) < cal.threshold for r in off_rows]
    rows = answers(samples, cal)
    conf = np.array([cal.confidence(dict(zip(CONFIDENCE_FEATURES, r[0]))) for r in rows])
    hit = np.array([r[1] for r in rows])
    ans = np.array([r[2] for r in rows])
    answered = conf >= cal.threshold
    return {
        "n": len(rows),
        "has_hit_all": float(hit[ans].mean()),
        "has_hit": float((hit & answered)[ans].mean()),
        "noans_abstain": float((~answered)[~ans].mean()) if (~ans).any() else float("nan"),
        "overall": float(((hit & answered).sum() + (~ans & ~answered).sum()) / len(rows)),
        "off_topic_refused": float(np.mean(refused)) if refused else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m citeqa.eval.fit", description=__doc__)
    ap.add_argument("--squad", type=Path, required=True)
    ap.add_argument("--gold", nargs=2, type=Path, action="append", default=[], metavar=("CORPUS", "GOLD"),
                    help="also fit on a gold set of a corpus (repeatable)")
    ap.add_argument("--work", type=Path, default=Path(".bench/squad"))
    ap.add_argument("--out", type=Path, default=None, help="write the fitted calibration to this file")
    ap.add_argument("--write", action="store_true", help="write it over the model's shipped calibration file")
    ap.add_argument("--cv", action="store_true", help="also report leave-one-article-out cross-validation")
    args = ap.parse_args(argv)
    settings = load_settings()  # CITEQA_MODEL, CITEQA_SENTENCE_VECTORS; corpus and index are per article
    embedder = make_embedder(settings.model)
    samples = collect(args.squad, args.work, embedder, settings)
    samples += collect_gold([(c, g) for c, g in args.gold], args.work / "gold", embedder, settings)
    base = load_calibration(calibration_path(settings.model))
    out = args.out or (calibration_path(settings.model, to_write=True) if args.write else None)
    if args.cv:
        for art in dict.fromkeys(s.article for s in samples):
            train = [s for s in samples if s.article != art]
            test = [s for s in samples if s.article == art]
            cal = fit(train, base, f"cv-{art}")
            print(json.dumps({"held_out": art, "threshold": cal.threshold, **score(test, cal)}))
    names = ", ".join([f"{args.squad.name} (SQuAD 2.0)", *(g.name for _, g in args.gold)])
    cal = fit(samples, base, f"fitted on {names}: {len(samples)} questions")
    print(json.dumps({"all": True, "threshold": cal.threshold, **score(samples, cal)}))
    if out is not None:
        out.write_text(cal.to_json() + "\n", encoding="utf-8")
    print(f"wrote {out}" if out else "nothing written (--write: over the model's calibration; --out: elsewhere)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
