"""SQuAD 2.0 evaluation: each article becomes a corpus of one document per paragraph.

Answers are scored with SQuAD's normalisation; EM and F1 of the marked short
span follow the official SQuAD 2.0 definitions (an abstention matches an
unanswerable question exactly).
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from citeqa.answer.extract import apply_threshold
from citeqa.config import Settings
from citeqa.encode.embedder import Embedder
from citeqa.errors import InputError
from citeqa.eval.evaluate import answer_hit
from citeqa.models import Answer, sha256_hex
from citeqa.qa import QA


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    question: str
    answers: tuple[str, ...]
    paragraph: int

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class SquadArticle:
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[SquadQuestion, ...]


@dataclass(frozen=True)
class SquadResult:
    article: str
    q: SquadQuestion
    answer: Answer
    seconds: float
    gold_rank: int | None
    verbatim: bool


@dataclass
class SquadReport:
    """Figures for one article or the total."""

    name: str
    n: int = 0
    n_has: int = 0
    has_hit: float = 0.0
    has_hit_all: float = 0.0
    noans_abstain: float = 0.0
    overall: float = 0.0
    em: float = 0.0
    f1: float = 0.0
    median_chars: float = 0.0
    verbatim: float = 1.0
    recall_at: dict[int, float] = field(default_factory=dict)
    ms_per_q: float = 0.0


def load_squad(path: Path) -> list[SquadArticle]:
    """Read a SQuAD 2.0 JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        articles = []
        for art in data:
            paras, qs = [], []
            for pi, p in enumerate(art["paragraphs"]):
                paras.append(p["context"])
                for qa in p["qas"]:
                    answers = () if qa.get("is_impossible") else tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                    qs.append(SquadQuestion(qa["id"], qa["question"], answers, pi))
            articles.append(SquadArticle(art["title"], tuple(paras), tuple(qs)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a readable SQuAD 2.0 file ({exc})") from exc
    return articles


def paragraph_file(i: int) -> str:
    return f"p{i:03d}.txt"


def prepare_article(article: SquadArticle, work: Path) -> Path:
    """Write the article's paragraphs as a corpus folder (reused when unchanged)."""
    folder = work / f"{re.sub(r'[^A-Za-z0-9_-]', '_', article.title)}-{sha256_hex(''.join(article.paragraphs))[:8]}"
    corpus = folder / "corpus"
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        for i, p in enumerate(article.paragraphs):
            (corpus / paragraph_file(i)).write_text(p, encoding="utf-8")
    return folder


def normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(pred: str, golds: Sequence[str]) -> float:
    if not golds:
        return float(not pred)
    return max(float(normalize(pred) == normalize(g)) for g in golds)


def f1_score(pred: str, golds: Sequence[str]) -> float:
    if not golds:
        return float(not pred)
    best = 0.0
    p_toks = normalize(pred).split()
    for g in golds:
        g_toks = normalize(g).split()
        if not p_toks or not g_toks:
            best = max(best, float(p_toks == g_toks))
            continue
        same = sum((Counter(p_toks) & Counter(g_toks)).values())
        if same:
            prec, rec = same / len(p_toks), same / len(g_toks)
            best = max(best, 2 * prec * rec / (prec + rec))
    return best


def short_answer(ans: Answer) -> str:
    """The marked short span, else the whole quoted answer, else '' (abstained)."""
    if ans.abstained or not ans.answer:
        return ""
    if ans.answer_span:
        return ans.answer[ans.answer_span.start : ans.answer_span.end]
    return ans.answer


def run_squad(
    articles: Sequence[SquadArticle],
    work: Path,
    embedder: Embedder,
    base: Settings,
    k: int = 5,
    mode: str | None = None,
    on_article: Callable[[str], None] | None = None,
) -> list[SquadResult]:
    """Index each article (cache kept in ``work``) and ask all its questions, never abstaining.

    Apply a threshold afterwards with :func:`thresholded`; one run gives both
    the answer-everything and the thresholded figures.
    """
    results: list[SquadResult] = []
    for art in articles:
        folder = prepare_article(art, work)
        settings = base.with_(corpus_dir=folder / "corpus", index_dir=folder / "index")
        qa = QA(settings, embedder=embedder)
        qa.build()
        texts = art.paragraphs
        if on_article:
            on_article(art.title)
        for q in art.questions:
            t0 = time.perf_counter()
            ans = qa.ask(q.question, k=max(k, 5), mode=mode, min_confidence=0.0)
            dt = time.perf_counter() - t0
            rank = next((p.rank for p in ans.passages if p.chunk.doc == paragraph_file(q.paragraph)), None)
            verbatim = all(texts[int(c.doc[1:-4])][c.start : c.end] == c.quote for c in ans.citations)
            results.append(SquadResult(art.title, q, ans, dt, rank, verbatim))
    return results


def thresholded(results: Sequence[SquadResult], threshold: float) -> list[SquadResult]:
    """The results as they would be with abstention below ``threshold``."""
    return [
        SquadResult(r.article, r.q, apply_threshold(r.answer, threshold), r.seconds, r.gold_rank, r.verbatim)
        for r in results
    ]


def report(name: str, results: Sequence[SquadResult], threshold: float) -> SquadReport:
    """Figures at ``threshold``, with HasAns hit of the answer-everything run alongside."""
    hit_all = [answer_hit(r.answer.answer, r.q.answers) for r in results if r.q.answerable]
    return summarize(name, thresholded(results, threshold), hit_all)


def summarize(name: str, results: Sequence[SquadResult], hit_all: Sequence[bool] | None = None) -> SquadReport:
    """Figures over ``results``; ``hit_all`` gives HasAns hits of a never-abstaining run."""
    has = [r for r in results if r.q.answerable]
    no = [r for r in results if not r.q.answerable]

    def frac(xs: Sequence[bool]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    hits = [answer_hit(r.answer.answer, r.q.answers) for r in has]
    lengths = [len(r.answer.answer) for r in results if r.answer.answer]
    preds = [short_answer(r.answer) for r in results]
    return SquadReport(
        name=name,
        n=len(results),
        n_has=len(has),
        has_hit=frac(hits),
        has_hit_all=frac(list(hit_all)) if hit_all is not None else float("nan"),
        noans_abstain=frac([r.answer.abstained for r in no]),
        overall=(sum(hits) + sum(r.answer.abstained for r in no)) / len(results) if results else 0.0,
        em=statistics.fmean(exact_match(p, r.q.answers) for p, r in zip(preds, results)) if results else 0.0,
        f1=statistics.fmean(f1_score(p, r.q.answers) for p, r in zip(preds, results)) if results else 0.0,
        median_chars=statistics.median(lengths) if lengths else 0.0,
        verbatim=frac([r.verbatim for r in results if r.answer.citations])
        if any(r.answer.citations for r in results)
        else 1.0,
        recall_at={k: frac([r.gold_rank is not None and r.gold_rank <= k for r in has]) for k in (1, 5)},
        ms_per_q=1000 * statistics.fmean(r.seconds for r in results) if results else 0.0,
    )


REPORT_COLUMNS = (
    "n",
    "has_hit",
    "has_hit_all",
    "noans_abstain",
    "overall",
    "em",
    "f1",
    "median_chars",
    "verbatim",
    "r@1",
    "r@5",
    "ms_per_q",
)


def report_row(r: SquadReport) -> list[str]:
    return [
        r.name,
        str(r.n),
        f"{r.has_hit:.3f}",
        f"{r.has_hit_all:.3f}",
        f"{r.noans_abstain:.3f}",
        f"{r.overall:.3f}",
        f"{r.em:.3f}",
        f"{r.f1:.3f}",
        f"{r.median_chars:.0f}",
        f"{r.verbatim:.3f}",
        f"{r.recall_at[1]:.3f}",
        f"{r.recall_at[5]:.3f}",
        f"{r.ms_per_q:.1f}",
    ]


def format_table(reports: Sequence[SquadReport]) -> str:
    rows = [["article", *REPORT_COLUMNS], *(report_row(r) for r in reports)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
