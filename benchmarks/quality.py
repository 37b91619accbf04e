"""Answer quality, side by side: naive baselines, citeqa's retrieval modes, and its thresholds.

    make bench-quality                       # or: .venv/bin/python benchmarks/quality.py [--squad FILE]

Two data sets in one run:

* the seed gold set: ``corpus/`` with ``tests/data/seed_qa.jsonl`` (scored by :mod:`citeqa.eval.evaluate`);
* SQuAD 2.0 (default ``../shared/squad2/dev-v2.0-articles-0-5.json`` beside the repository), one corpus
  per article and one document per paragraph (scored by :mod:`citeqa.eval.squad`; indexes cached in
  ``.bench/squad``).

Rows: the naive 500-character-window baseline and its one-sentence variant (``benchmarks/naive.py``),
citeqa with dense-only and BM25-only retrieval, and the full answerer (hybrid) at the default
threshold, answering everything (min confidence 0) and at the strict threshold. Each system is run
once with min confidence 0 and the thresholds are applied afterwards.

Also the risk–coverage curves of the full answerer (``docs/risk_coverage.png``) with their areas
(AURC) and the overall accuracy at a few thresholds. Writes ``benchmarks/results/quality.json`` and
prints Markdown tables.

Every question is embedded once and its vector reused by every system; each row's ms per question is
its own time plus the time of embedding that question alone, as the answerer does (measured for every
seed question and for an evenly spread sample of SQuAD questions, ``--latency-sample``).

SQuAD 2.0 (Rajpurkar, Jia and Liang, ACL 2018) is CC BY-SA 4.0, text from Wikipedia: keep that
attribution wherever these figures appear.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from citeqa.answer.calibration import Calibration, load_calibration
from citeqa.answer.extract import apply_threshold
from citeqa.config import Settings, offline_model_env
from citeqa.encode.embedder import Embedder, PrecomputedEmbedder, make_embedder
from citeqa.eval.evaluate import GoldItem, ItemResult, Report, answer_hit, evaluate, evidence_rank, load_gold, summarize
from citeqa.eval.squad import (
    SquadArticle,
    SquadReport,
    SquadResult,
    load_squad,
    paragraph_file,
    report,
    run_squad,
)
from citeqa.eval.squad import summarize as squad_summarize
from citeqa.ingest.files import load_corpus
from citeqa.models import Answer
from citeqa.qa import QA, clean_question
from naive import NaiveIndex

ROOT = Path(__file__).resolve().parents[1]
SEED_CORPUS = ROOT / "corpus"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
DEFAULT_SQUAD = ROOT.parent / "shared" / "squad2" / "dev-v2.0-articles-0-5.json"
WORK = ROOT / ".bench"
OUT = ROOT / "benchmarks" / "results" / "quality.json"
PLOT = ROOT / "docs" / "risk_coverage.png"
ATTRIBUTION = (
    "SQuAD 2.0: Rajpurkar, Jia and Liang, \"Know What You Don't Know: Unanswerable Questions for SQuAD\" "
    "(ACL 2018), https://rajpurkar.github.io/SQuAD-explorer/ ; text from Wikipedia; CC BY-SA 4.0."
)
NAIVE_WINDOW, NAIVE_SENTENCE = "naive 500-char window", "naive one sentence"
DENSE, BM25 = "citeqa dense-only", "citeqa BM25-only"
HYBRID = "citeqa hybrid (default threshold)"
HYBRID_ALL, HYBRID_STRICT = "citeqa hybrid, answer all", "citeqa hybrid, strict"
SWEEP = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)


class TimedQueryCache(PrecomputedEmbedder):
    """Every system reuses the same question vectors.

    :meth:`warm` embeds all questions in one batch (the vectors equal one-at-a-time embedding to
    ~1e-7) and times one-at-a-time embedding, the way the answerer embeds a question, for the
    ``timed`` questions; :meth:`cost` gives a question's measured time, or the mean of the measured
    ones. Anything else (index builds, sentences) goes to the wrapped embedder.
    """

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.seconds: dict[str, float] = {}

    def warm(self, questions: Sequence[str], timed: Sequence[str]) -> None:
        self.add([clean_question(q) for q in questions])
        for q in dict.fromkeys(clean_question(q) for q in timed):
            if q not in self.seconds:
                t0 = time.perf_counter()
                self.inner.embed([q])
                self.seconds[q] = time.perf_counter() - t0
        self.mean_seconds = statistics.fmean(self.seconds.values()) if self.seconds else 0.0

    def vector(self, question: str) -> np.ndarray:
        return self.vectors[clean_question(question)]

    def cost(self, question: str) -> float:
        """Seconds it took to embed ``question`` by itself (the mean over the timed ones if it was not timed)."""
        return self.seconds.get(clean_question(question), self.mean_seconds)


# ----------------------------------------------------------------------------------------------- seed


def seed_at(results: Sequence[ItemResult], threshold: float) -> list[ItemResult]:
    """Seed results as they would be with abstention below ``threshold``."""
    out = []
    for r in results:
        ans = apply_threshold(r.answer, threshold)
        hit = r.item.answerable and answer_hit(ans.answer, r.item.answers)
        out.append(dataclasses.replace(r, answer=ans, hit=hit))
    return out


def seed_naive(items: Sequence[GoldItem], cache: TimedQueryCache) -> tuple[list[ItemResult], list[ItemResult]]:
    docs, _ = load_corpus(SEED_CORPUS)
    idx = NaiveIndex([(d.path, d.text) for d in docs], cache.inner)
    win, sent = [], []
    for item in items:
        qvec, cost = cache.vector(item.q), cache.cost(item.q)
        t0 = time.perf_counter()
        a = idx.answer_window(item.q, qvec)
        t1 = time.perf_counter()
        b = idx.answer_sentence(item.q, qvec, a.passages)
        t2 = time.perf_counter()
        rank = evidence_rank(a, item.evidence)
        for out, ans, secs in ((win, a, cost + t1 - t0), (sent, b, cost + t2 - t0)):
            hit = item.answerable and answer_hit(ans.answer, item.answers)
            out.append(ItemResult(item, ans, hit, rank, idx.verbatim(ans), secs))
    return win, sent


def seed_citeqa(items: Sequence[GoldItem], cache: TimedQueryCache, mode: str) -> list[ItemResult]:
    settings = Settings(corpus_dir=SEED_CORPUS, index_dir=WORK / "seed_index")
    qa = QA(settings, embedder=cache)  # type: ignore[arg-type]
    qa.build()
    _, results = evaluate(qa, items, mode=mode, min_confidence=0.0)
    return [dataclasses.replace(r, seconds=r.seconds + cache.cost(r.item.q)) for r in results]


def seed_row(name: str, rep: Report) -> dict:
    return {
        "system": name,
        "n": rep.n,
        "answer_hit": rep.answer_hit,
        "recall_at_1": rep.recall_at[1],
        "recall_at_3": rep.recall_at[3],
        "recall_at_5": rep.recall_at[5],
        "abstention_unanswerable": rep.abstention,
        "false_abstention": rep.false_abstention,
        "median_answer_chars": rep.median_answer_chars,
        "citation_verbatim": rep.citation_verbatim,
        "latency_p50_ms": rep.latency_p50_ms,
    }


# ---------------------------------------------------------------------------------------------- SQuAD


def squad_naive(
    articles: Sequence[SquadArticle], cache: TimedQueryCache
) -> tuple[list[SquadResult], list[SquadResult]]:
    win, sent = [], []
    for art in articles:
        idx = NaiveIndex([(paragraph_file(i), p) for i, p in enumerate(art.paragraphs)], cache.inner)
        for q in art.questions:
            qvec, cost = cache.vector(q.question), cache.cost(q.question)
            t0 = time.perf_counter()
            a = idx.answer_window(q.question, qvec)
            t1 = time.perf_counter()
            b = idx.answer_sentence(q.question, qvec, a.passages)
            t2 = time.perf_counter()
            rank = next((p.rank for p in a.passages if p.chunk.doc == paragraph_file(q.paragraph)), None)
            win.append(SquadResult(art.title, q, a, cost + t1 - t0, rank, idx.verbatim(a)))
            sent.append(SquadResult(art.title, q, b, cost + t2 - t0, rank, idx.verbatim(b)))
    return win, sent


def squad_citeqa(
    articles: Sequence[SquadArticle], cache: TimedQueryCache, mode: str, settings: Settings
) -> list[SquadResult]:
    results = run_squad(articles, WORK / "squad", cache, settings, mode=mode)  # type: ignore[arg-type]
    return [dataclasses.replace(r, seconds=r.seconds + cache.cost(r.q.question)) for r in results]


def squad_row(name: str, rep: SquadReport) -> dict:
    return {
        "system": name,
        "n": rep.n,
        "has_ans_hit": rep.has_hit,
        "has_ans_hit_answer_all": rep.has_hit_all,
        "no_ans_abstention": rep.noans_abstain,
        "overall_accuracy": rep.overall,
        "em": rep.em,
        "f1": rep.f1,
        "median_answer_chars": rep.median_chars,
        "citation_verbatim": rep.verbatim,
        "recall_at_1": rep.recall_at[1],
        "recall_at_5": rep.recall_at[5],
        "ms_per_question": rep.ms_per_q,
    }


# -------------------------------------------------------------------------------------- risk–coverage


def risk_coverage(conf: np.ndarray, correct: np.ndarray) -> dict:
    """The curve (most confident first), its area, and the areas of the best and of a random order."""
    order = np.argsort(-conf, kind="stable")
    n = len(conf)
    k = np.arange(1, n + 1)
    risk = 1.0 - np.cumsum(correct[order]) / k
    n_ok = int(correct.sum())
    best = np.maximum(0, k - n_ok) / k
    return {
        "coverage": (k / n).tolist(),
        "risk": risk.tolist(),
        "aurc": float(risk.mean()),
        "aurc_optimal": float(best.mean()),
        "aurc_random": float(1.0 - n_ok / n),
    }


def at_threshold(conf: np.ndarray, correct: np.ndarray, answerable: np.ndarray, t: float) -> dict:
    """Coverage, risk of the answered ones and overall accuracy (hits answered + unanswerables refused)."""
    answered = conf >= t
    cov = float(answered.mean())
    risk = float(1.0 - correct[answered].mean()) if answered.any() else 0.0
    overall = float(((correct & answered).sum() + (~answerable & ~answered).sum()) / len(conf))
    return {"threshold": round(float(t), 4), "coverage": cov, "risk": risk, "overall_accuracy": overall}


def confidence_table(answers: Sequence[Answer], golds: Sequence[Sequence[str]], cal: Calibration) -> dict:
    """Risk–coverage and the accuracy sweep for answers given with min confidence 0."""
    conf = np.array([a.confidence for a in answers])
    answerable = np.array([bool(g) for g in golds])
    correct = np.array([bool(g) and answer_hit(a.answer, g) for a, g in zip(answers, golds)])
    thresholds = sorted({*SWEEP, cal.threshold, *([cal.strict_threshold] if cal.strict_threshold else [])})
    return {
        **risk_coverage(conf, correct),
        "default": at_threshold(conf, correct, answerable, cal.threshold),
        "strict": at_threshold(conf, correct, answerable, cal.strict_threshold)
        if cal.strict_threshold is not None
        else None,
        "sweep": [at_threshold(conf, correct, answerable, t) for t in thresholds],
    }


def plot(curves: dict[str, dict], cal: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    colors = ("#1f77b4", "#d62728")
    for c, color in zip(curves.values(), colors):
        ax.plot(c["coverage"], c["risk"], color=color, lw=1.8, label=f"{c['label']} (AURC {c['aurc']:.3f})")
        for key, marker, name in (("default", "o", "default"), ("strict", "s", "strict")):
            p = c.get(key)
            if p:
                ax.plot(p["coverage"], p["risk"], marker, color=color, ms=8, mec="black", zorder=3)
                ax.annotate(f"{name} {p['threshold']:.2f}", (p["coverage"], p["risk"]), xytext=(-8, 8),
                            textcoords="offset points", fontsize=8, color=color, ha="right")
    ax.set_xlabel("coverage (fraction of questions answered, most confident first)")
    ax.set_ylabel("risk (1 − accuracy of the answered)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.plot([], [], "o", color="grey", mec="black", label=f"default threshold ({cal.threshold:.2f})")
    if cal.strict_threshold is not None:
        ax.plot([], [], "s", color="grey", mec="black", label=f"strict threshold ({cal.strict_threshold:.2f})")
    ax.legend(loc="upper left", fontsize=8, frameon=True)
    ax.set_title("citeqa (hybrid) risk–coverage: lower is better", fontsize=11)
    fig.text(0.01, 0.01, "SQuAD 2.0 dev articles 0–5 (Rajpurkar et al., 2018), Wikipedia text, CC BY-SA 4.0",
             fontsize=7, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


# --------------------------------------------------------------------------------------------- tables


def markdown(rows: Sequence[dict], columns: Sequence[tuple[str, str, Callable[[object], str]]]) -> str:
    head = "| " + " | ".join(title for _, title, _ in columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    body = ["| " + " | ".join(fmt(r[key]) for key, _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _f3(x: object) -> str:
    return f"{x:.3f}"


def _f0(x: object) -> str:
    return f"{x:.0f}"


def _f1(x: object) -> str:
    return f"{x:.1f}"


SEED_COLUMNS = (
    ("system", "system", str),
    ("answer_hit", "answer hit", _f3),
    ("recall_at_1", "evidence R@1", _f3),
    ("recall_at_3", "R@3", _f3),
    ("recall_at_5", "R@5", _f3),
    ("abstention_unanswerable", "abstention (unans.)", _f3),
    ("false_abstention", "false abstention", _f3),
    ("median_answer_chars", "median chars", _f0),
    ("citation_verbatim", "verbatim", _f3),
    ("latency_p50_ms", "p50 ms", _f1),
)
SQUAD_COLUMNS = (
    ("system", "system", str),
    ("has_ans_hit", "HasAns hit", _f3),
    ("has_ans_hit_answer_all", "HasAns hit (answer all)", _f3),
    ("no_ans_abstention", "NoAns abstention", _f3),
    ("overall_accuracy", "overall", _f3),
    ("em", "EM", _f3),
    ("f1", "F1", _f3),
    ("median_answer_chars", "median chars", _f0),
    ("citation_verbatim", "verbatim", _f3),
    ("recall_at_1", "R@1", _f3),
    ("recall_at_5", "R@5", _f3),
    ("ms_per_question", "ms/q", _f1),
)
SWEEP_COLUMNS = (
    ("threshold", "min confidence", lambda x: f"{x:.4g}"),
    ("coverage", "answered", _f3),
    ("risk", "risk of answered", _f3),
    ("overall_accuracy", "overall accuracy", _f3),
)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _limit(articles: list[SquadArticle], n: int | None) -> list[SquadArticle]:
    if not n:
        return articles
    return [dataclasses.replace(a, questions=a.questions[:n]) for a in articles]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="SQuAD 2.0 JSON file (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=OUT, help="results JSON (default: %(default)s)")
    ap.add_argument("--plot", type=Path, default=PLOT, help="risk–coverage PNG (default: %(default)s)")
    ap.add_argument("--max-questions", type=int, help="ask at most this many questions per article (smoke runs)")
    ap.add_argument("--latency-sample", type=int, default=200, metavar="N",
                    help="time the embedding of every seed question and of about N SQuAD questions, evenly "
                         "spread, one at a time (0: all of them; default %(default)s)")
    args = ap.parse_args(argv)
    if not args.squad.is_file():
        print(f"error: no SQuAD file at {args.squad}; pass --squad PATH", file=sys.stderr)
        return 2
    offline_model_env()
    started = time.perf_counter()
    settings = Settings()
    cal = load_calibration()
    strict = cal.strict_threshold if cal.strict_threshold is not None else cal.threshold

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    cache = TimedQueryCache(make_embedder(settings.model))
    items = load_gold(SEED_QA)
    articles = _limit(load_squad(args.squad), args.max_questions)
    squad_questions = [q.question for a in articles for q in a.questions]
    step = max(1, len(squad_questions) // args.latency_sample) if args.latency_sample else 1
    timed = [i.q for i in items] + squad_questions[::step]
    cache.inner.embed(["warm up the model"])
    cache.warm([i.q for i in items] + squad_questions, timed)
    log(f"embedded {len(cache.vectors)} questions, timed {len(cache.seconds)} one at a time "
        f"(mean {1000 * cache.mean_seconds:.1f} ms)")

    # seed gold set
    nw, ns = seed_naive(items, cache)
    seed = {m: seed_citeqa(items, cache, m) for m in ("dense", "bm25", "hybrid")}
    seed_rows = [
        seed_row(NAIVE_WINDOW, summarize(nw)),
        seed_row(NAIVE_SENTENCE, summarize(ns)),
        seed_row(DENSE, summarize(seed_at(seed["dense"], cal.threshold))),
        seed_row(BM25, summarize(seed_at(seed["bm25"], cal.threshold))),
        seed_row(HYBRID, summarize(seed_at(seed["hybrid"], cal.threshold))),
        seed_row(HYBRID_ALL, summarize(seed_at(seed["hybrid"], 0.0))),
        seed_row(HYBRID_STRICT, summarize(seed_at(seed["hybrid"], strict))),
    ]
    log(f"seed gold set: {len(items)} questions")

    # SQuAD
    sw, ss = squad_naive(articles, cache)
    log("SQuAD naive baselines")
    squad: dict[str, list[SquadResult]] = {}
    for m in ("hybrid", "dense", "bm25"):
        squad[m] = squad_citeqa(articles, cache, m, settings)
        log(f"SQuAD citeqa {m}")
    squad_rows = [
        squad_row(NAIVE_WINDOW, squad_summarize(NAIVE_WINDOW, sw, [answer_hit(r.answer.answer, r.q.answers)
                                                                   for r in sw if r.q.answerable])),
        squad_row(NAIVE_SENTENCE, squad_summarize(NAIVE_SENTENCE, ss, [answer_hit(r.answer.answer, r.q.answers)
                                                                       for r in ss if r.q.answerable])),
        squad_row(DENSE, report(DENSE, squad["dense"], cal.threshold)),
        squad_row(BM25, report(BM25, squad["bm25"], cal.threshold)),
        squad_row(HYBRID, report(HYBRID, squad["hybrid"], cal.threshold)),
        squad_row(HYBRID_ALL, report(HYBRID_ALL, squad["hybrid"], 0.0)),
        squad_row(HYBRID_STRICT, report(HYBRID_STRICT, squad["hybrid"], strict)),
    ]
    per_article = [
        squad_row(a.title, report(a.title, [r for r in squad["hybrid"] if r.article == a.title], cal.threshold))
        for a in articles
    ]

    # risk–coverage of the full answerer (answers given with min confidence 0)
    seed_label = f"seed gold set ({len(items)} q)"
    squad_label = f"SQuAD 2.0, {len(articles)} articles ({len(squad['hybrid'])} q)"
    curves = {
        "seed": {"label": seed_label,
                 **confidence_table([r.answer for r in seed["hybrid"]], [r.item.answers for r in seed["hybrid"]], cal)},
        "squad": {"label": squad_label,
                  **confidence_table([r.answer for r in squad["hybrid"]], [r.q.answers for r in squad["hybrid"]], cal)},
    }
    # the naive one-sentence answer ranked by its cosine, for comparison with the calibrated confidence
    naive_rc = {
        "seed": risk_coverage(np.array([r.answer.confidence for r in ns]),
                              np.array([r.hit for r in ns])),
        "squad": risk_coverage(np.array([r.answer.confidence for r in ss]),
                               np.array([r.q.answerable and answer_hit(r.answer.answer, r.q.answers) for r in ss])),
    }
    plot(curves, cal, args.plot)
    elapsed = time.perf_counter() - started
    log(f"done; wrote {args.plot}")

    summary = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "model": settings.model,
        "calibration": {"source": cal.source, "threshold": cal.threshold, "strict_threshold": cal.strict_threshold},
        "seed": {"corpus": "corpus/", "gold": "tests/data/seed_qa.jsonl", "rows": seed_rows},
        "squad": {
            "file": str(args.squad),
            "attribution": ATTRIBUTION,
            "max_questions_per_article": args.max_questions,
            "latency_sample": len(dict.fromkeys(squad_questions[::step])),
            "rows": squad_rows,
            "hybrid_per_article_default_threshold": per_article,
        },
        "risk_coverage": {
            name: {k: v for k, v in c.items() if k not in ("coverage", "risk")} for name, c in curves.items()
        },
        "naive_sentence_cosine_aurc": {k: {kk: v[kk] for kk in ("aurc", "aurc_optimal", "aurc_random")}
                                       for k, v in naive_rc.items()},
        "notes": [
            "Each system answered every question once with min confidence 0; thresholds were applied afterwards.",
            "ms/q and p50 include embedding the question alone (as the answerer does): measured for every "
            "seed question and for the SQuAD questions in latency_sample (the others get the mean of those); "
            "the vectors themselves come from one batch and are shared by all rows.",
            "Naive one sentence: the windows' sentences are embedded with the window index, as citeqa embeds "
            "its sentences at indexing time, so its ms/q counts only the cosine and argmax.",
            "Naive rows never abstain; their recall@k asks whether the top k windows come from the gold "
            "paragraph (SQuAD) or hold the evidence sentence (seed).",
            "AURC: mean risk over all coverage levels, most confident first; aurc_optimal orders correct "
            "answers first, aurc_random is the risk of answering everything.",
        ],
        "seconds": round(elapsed, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)

    print(f"### Seed gold set ({len(items)} questions, {sum(i.answerable for i in items)} answerable)\n")
    print(markdown(seed_rows, SEED_COLUMNS))
    print(f"\n### SQuAD 2.0 ({len(articles)} articles, {len(squad['hybrid'])} questions, "
          f"{sum(r.q.answerable for r in squad['hybrid'])} answerable)\n")
    print(markdown(squad_rows, SQUAD_COLUMNS))
    print(f"\n{ATTRIBUTION}\n")
    print(f"Default threshold {cal.threshold}, strict threshold {strict}.\n")
    print("### Risk–coverage of the full answerer (hybrid)\n")
    print("| data | AURC | optimal AURC | risk answering all | naive sentence (cosine) AURC |")
    print("|---|---:|---:|---:|---:|")
    for key, c in curves.items():
        print(f"| {c['label']} | {c['aurc']:.3f} | {c['aurc_optimal']:.3f} | {c['aurc_random']:.3f} "
              f"| {naive_rc[key]['aurc']:.3f} |")
    for c in curves.values():
        print(f"\n#### Overall accuracy vs threshold: {c['label']}\n")
        print(markdown(c["sweep"], SWEEP_COLUMNS))
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} and "
          f"{args.plot.relative_to(ROOT) if args.plot.is_relative_to(ROOT) else args.plot} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
