"""Quality floors on the seed gold set (fitted on: the shipped weights saw it), with the real bundled model.

The held-out sets have their own floors in test_generalisation.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from citeqa.eval.evaluate import ItemResult, Report, evaluate, load_gold
from citeqa.qa import QA

SEED_QA = Path(__file__).resolve().parents[1] / "data" / "seed_qa.jsonl"

# Floors that guard against regressions, each set a little below what `citeqa eval` measures today.
# The targets are in the comments; where a floor is below its target, the target is not met
# (README.md, "Quality", says so) — raise the floor when the answerer improves, never lower it to pass.
MIN_ANSWER_HIT = 0.93  # target 0.95; measured 0.956 (0.985 answering everything) with the trained reader
MIN_RECALL_AT_3 = 0.98  # target 0.98; measured 0.985
MIN_OUT_OF_CORPUS_ABSTENTION = 0.9  # target 0.9; measured 1.000 (10 questions)
MIN_ABSTENTION = 0.45  # all unanswerable, target 0.9; measured 0.500 (near-misses: 0.000)
MAX_FALSE_ABSTENTION = 0.05  # target 0.05; measured 0.029 (2 of 68; default threshold 0.2)
MAX_MEDIAN_ANSWER_CHARS = 250  # target 250; measured 212
CITATION_VERBATIM = 1.0  # target 1.0; measured 1.000

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def evaluated(real_qa: QA) -> tuple[Report, list[ItemResult]]:
    return evaluate(real_qa, load_gold(SEED_QA))


def _why(evaluated: tuple[Report, list[ItemResult]], failed: list[ItemResult]) -> str:
    report, _ = evaluated
    lines = ["", *report.lines(), "", f"{len(failed)} question(s):"]
    lines += [f"  {r.item.q!r} -> {r.answer.answer!r} (conf {r.answer.confidence:.2f})" for r in failed[:15]]
    return "\n".join(lines)


def test_gold_set_shape(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, _ = evaluated
    assert report.n >= 50 and 0 < report.n_answerable < report.n


def test_answer_hit(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    missed = [r for r in results if r.item.answerable and not r.hit]
    assert report.answer_hit >= MIN_ANSWER_HIT, _why(evaluated, missed)


def test_evidence_recall_at_3(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    missed = [r for r in results if r.item.evidence and (r.evidence_rank is None or r.evidence_rank > 3)]
    assert report.recall_at[3] >= MIN_RECALL_AT_3, _why(evaluated, missed)


def test_abstention_on_unanswerable(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    answered = [r for r in results if not r.item.answerable and not r.answer.abstained]
    assert report.abstention >= MIN_ABSTENTION, _why(evaluated, answered)


def test_abstention_out_of_corpus(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    answered = [r for r in results if r.item.kind == "out-of-corpus" and not r.answer.abstained]
    assert report.abstention_by_kind["out-of-corpus"] >= MIN_OUT_OF_CORPUS_ABSTENTION, _why(evaluated, answered)


def test_false_abstention(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    abstained = [r for r in results if r.item.answerable and r.answer.abstained]
    assert report.false_abstention <= MAX_FALSE_ABSTENTION, _why(evaluated, abstained)


def test_median_answer_length(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    long = sorted((r for r in results if r.answer.answer), key=lambda r: -len(r.answer.answer or ""))
    assert report.median_answer_chars <= MAX_MEDIAN_ANSWER_CHARS, _why(evaluated, long)


def test_citations_verbatim(evaluated: tuple[Report, list[ItemResult]]) -> None:
    report, results = evaluated
    bad = [r for r in results if not r.verbatim]
    assert report.citation_verbatim == CITATION_VERBATIM, _why(evaluated, bad)
