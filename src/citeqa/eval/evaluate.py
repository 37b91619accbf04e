"""Scoring a gold question set through the normal pipeline.

Gold lines: ``{"q", "answers": [...], "evidence": "..."}`` for answerable
questions, ``{"q", "answerable": false}`` for the others. An unanswerable line
may say what kind it is (``"kind": "out-of-corpus"`` or ``"near-miss"``, a
question on the documents' topic that they do not answer); abstention is then
also reported per kind.
"""

from __future__ import annotations

import json
import re
import statistics
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from citeqa.errors import InputError
from citeqa.models import Answer
from citeqa.qa import QA


@dataclass(frozen=True)
class GoldItem:
    """One gold question."""

    q: str
    answers: tuple[str, ...] = ()
    evidence: str | None = None
    kind: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class ItemResult:
    """How the system did on one gold question."""

    item: GoldItem
    answer: Answer
    hit: bool
    evidence_rank: int | None
    verbatim: bool
    seconds: float


@dataclass(frozen=True)
class Report:
    """Aggregate figures of an evaluation run."""

    n: int
    n_answerable: int
    answer_hit: float
    recall_at: dict[int, float]
    abstention: float
    false_abstention: float
    median_answer_chars: float
    citation_verbatim: float
    latency_p50_ms: float
    latency_p95_ms: float
    abstention_by_kind: dict[str, float] = field(default_factory=dict)
    refused_by_kind: dict[str, float] = field(default_factory=dict)  # no answer at all, not even a tentative one
    tentative: float = 0.0  # answerable questions given a tentative answer (counted in false_abstention)
    tentative_hit: float = 0.0  # ... whose tentative answer holds a gold answer

    def lines(self) -> list[str]:
        kinds = [f"  {kind:<18} {rate:.3f} (refused outright {self.refused_by_kind.get(kind, 0.0):.3f})"
                 for kind, rate in sorted(self.abstention_by_kind.items())]
        return [
            f"questions            {self.n} ({self.n_answerable} answerable, {self.n - self.n_answerable} not)",
            f"answer hit           {self.answer_hit:.3f}",
            "evidence recall@1/3/5 " + " / ".join(f"{self.recall_at[k]:.3f}" for k in (1, 3, 5)),
            f"abstention (unans.)  {self.abstention:.3f}",
            *kinds,
            f"false abstention     {self.false_abstention:.3f} (tentative {self.tentative:.3f}, "
            f"of which right {self.tentative_hit:.3f})",
            f"median answer chars  {self.median_answer_chars:.0f}",
            f"citation verbatim    {self.citation_verbatim:.3f}",
            f"latency p50 / p95    {self.latency_p50_ms:.1f} / {self.latency_p95_ms:.1f} ms",
        ]


def load_gold(path: Path) -> list[GoldItem]:
    """Read a gold JSONL file, or raise :class:`InputError` naming the bad line."""
    try:
        raw_lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read gold file {path}: {exc.strerror or exc}") from exc
    items = []
    for n, line in enumerate(raw_lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            q = obj["q"]
            answers = tuple(obj.get("answers", ())) if obj.get("answerable", True) else ()
            if obj.get("answerable", True) and not answers:
                raise KeyError("answers")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}:{n}: not a gold line ({exc})") from exc
        items.append(GoldItem(q, answers, obj.get("evidence"), obj.get("kind")))
    if not items:
        raise InputError(f"{path} holds no questions")
    return items


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    s = s.lower().replace("’", "'").replace("\u00a0", " ")
    s = "".join(ch for ch in s if ch not in set(string.punctuation) | {"“", "”", "‘", "’", "•", "–", "—"})
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def answer_hit(answer: str | None, gold: Sequence[str]) -> bool:
    """True when the answer contains one of the gold answers (after normalisation)."""
    if not answer:
        return False
    a = f" {normalize_answer(answer)} "
    return any(f" {normalize_answer(g)} " in a for g in gold if normalize_answer(g))


def evidence_rank(answer: Answer, evidence: str | None) -> int | None:
    """Rank (from 1) of the first passage that holds the evidence, or None."""
    if not evidence:
        return None
    ev = normalize_answer(evidence)
    for p in answer.passages:
        text = normalize_answer(p.chunk.text)
        if ev in text or (len(text) > 40 and text in ev):
            return p.rank
    return None


def evaluate(qa: QA, items: Sequence[GoldItem], k: int = 5, mode: str | None = None,
             min_confidence: float | None = None) -> tuple[Report, list[ItemResult]]:
    """Ask every gold question; score answers, retrieval, abstention, citations and latency."""
    results: list[ItemResult] = []
    docs: dict[str, str] = {}
    for item in items:
        t0 = time.perf_counter()
        ans = qa.ask(item.q, k=max(k, 5), mode=mode, min_confidence=min_confidence)
        dt = time.perf_counter() - t0
        verbatim = True
        for c in ans.citations:
            if c.doc not in docs:
                doc = qa.document(c.doc)
                docs[c.doc] = doc.text if doc else ""
            verbatim &= docs[c.doc][c.start : c.end] == c.quote
        hit = item.answerable and not ans.abstained and answer_hit(ans.answer, item.answers)
        results.append(ItemResult(item, ans, hit, evidence_rank(ans, item.evidence), verbatim, dt))
    return summarize(results), results


def summarize(results: Sequence[ItemResult]) -> Report:
    ans = [r for r in results if r.item.answerable]
    unans = [r for r in results if not r.item.answerable]
    lat = sorted(r.seconds * 1000 for r in results)
    lengths = [len(r.answer.answer) for r in results if r.answer.answer and not r.answer.abstained]
    cites = [r.verbatim for r in results if r.answer.citations]

    def frac(xs: Sequence[bool]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return Report(
        n=len(results),
        n_answerable=len(ans),
        answer_hit=frac([r.hit for r in ans]),
        recall_at={k: frac([r.evidence_rank is not None and r.evidence_rank <= k for r in ans]) for k in (1, 3, 5)},
        abstention=frac([r.answer.abstained for r in unans]),
        false_abstention=frac([r.answer.abstained for r in ans]),
        median_answer_chars=statistics.median(lengths) if lengths else 0.0,
        citation_verbatim=frac(cites) if cites else 1.0,
        latency_p50_ms=_pct(lat, 50),
        latency_p95_ms=_pct(lat, 95),
        tentative=frac([r.answer.status == "tentative" for r in ans]),
        tentative_hit=frac([r.answer.status == "tentative" and answer_hit(r.answer.answer, r.item.answers)
                            for r in ans]),
        refused_by_kind={
            kind: frac([r.answer.status == "abstained" for r in unans if r.item.kind == kind])
            for kind in sorted({r.item.kind for r in unans if r.item.kind})
        },
        abstention_by_kind={
            kind: frac([r.answer.abstained for r in unans if r.item.kind == kind])
            for kind in sorted({r.item.kind for r in unans if r.item.kind})
        },
    )


def _pct(sorted_ms: Sequence[float], p: float) -> float:
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, round(p / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[i]
