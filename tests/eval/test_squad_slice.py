"""A slice of SQuAD 2.0 through the real pipeline (real model): floors a little below the measured figures.

The slice: the first 10 paragraphs of the first two articles of ``../shared/squad2/dev-v2.0-articles-0-5.json``
(Normans, Computational_complexity_theory) with all their questions: 145 questions, 64 answerable. It is
kept in the repository as ``tests/data/squad2_slice.json`` (official SQuAD JSON format), so the test runs on
any clean clone. Each article
is indexed in a temporary work folder and every question is asked once with min confidence 0
(:func:`citeqa.eval.squad.run_squad`); the default threshold is applied afterwards. The question vectors
are computed up front in one batch (they match one-at-a-time embedding to ~1e-7, and the figures
below are the same either way): on a busy two-core machine that takes the test from minutes to
well under one.

Data: SQuAD 2.0 (Rajpurkar, Jia and Liang, "Know What You Don't Know: Unanswerable Questions for
SQuAD", ACL 2018), text from Wikipedia, CC BY-SA 4.0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from citeqa.answer.calibration import load_calibration
from citeqa.config import Settings
from citeqa.encode.embedder import PrecomputedEmbedder, make_embedder
from citeqa.eval.squad import SquadArticle, SquadReport, SquadResult, load_squad, report, run_squad
from citeqa.qa import clean_question

pytestmark = pytest.mark.integration

SLICE = Path(__file__).resolve().parents[1] / "data" / "squad2_slice.json"
ARTICLES, PARAGRAPHS = 2, 10

# Measured on this slice (bundled all-MiniLM-L6-v2, packaged calibration.json with default threshold 0.2,
# the expected-cost threshold of citeqa.eval.fit): HasAns hit answering everything 0.828 (53/64), NoAns
# abstention at the default threshold 0.235 (19/81), citations verbatim 1.000, median answer 216 characters
# (HasAns hit at the default threshold 0.8125, overall accuracy 0.490, gold paragraph recall@1/5 0.797/0.984).
# Earlier calibrations: threshold 0.1303 measured NoAns 0.099 (8/81); threshold 0.1361 0.136 (11/81).
MIN_HAS_ANS_HIT_ALL = 0.82  # measured 0.844 with the trained reader
MIN_NO_ANS_ABSTENTION = 0.18  # measured 0.185 (5 of 27) with the trained reader; the six articles' CV: 0.309
MAX_MEDIAN_ANSWER_CHARS = 250


def squad_slice(path: Path) -> list[SquadArticle]:
    """The first ``PARAGRAPHS`` paragraphs of the first ``ARTICLES`` articles, with their questions
    (the whole of :data:`SLICE`)."""
    return [
        SquadArticle(a.title, a.paragraphs[:PARAGRAPHS], tuple(q for q in a.questions if q.paragraph < PARAGRAPHS))
        for a in load_squad(path)[:ARTICLES]
    ]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[SquadResult]:
    settings = Settings()
    articles = squad_slice(SLICE)
    embedder = PrecomputedEmbedder(make_embedder(settings.model))
    embedder.add([clean_question(q.question) for a in articles for q in a.questions])
    return run_squad(articles, tmp_path_factory.mktemp("squad-slice"), embedder, settings)


@pytest.fixture(scope="module")
def figures(results: list[SquadResult]) -> SquadReport:
    return report("slice", results, load_calibration().threshold)


def _failures(results: list[SquadResult], which: str) -> str:
    rows = [r for r in results if (r.q.answerable if which == "has" else not r.q.answerable)]
    return "\n".join(f"  {r.q.question!r} -> {r.answer.answer!r} (conf {r.answer.confidence:.2f})" for r in rows[:10])


def test_slice_shape(results: list[SquadResult]) -> None:
    assert len(results) == 145
    assert sum(r.q.answerable for r in results) == 64


def test_has_ans_hit_answering_everything(figures: SquadReport, results: list[SquadResult]) -> None:
    assert figures.has_hit_all >= MIN_HAS_ANS_HIT_ALL, _failures(results, "has")


def test_no_ans_abstention_at_default_threshold(figures: SquadReport, results: list[SquadResult]) -> None:
    assert figures.noans_abstain >= MIN_NO_ANS_ABSTENTION, _failures(results, "no")


def test_citations_verbatim(figures: SquadReport, results: list[SquadResult]) -> None:
    bad = [r for r in results if not r.verbatim]
    assert figures.verbatim == 1.0, [(r.q.question, [c.quote for c in r.answer.citations]) for r in bad[:5]]


def test_median_answer_length(figures: SquadReport) -> None:
    assert figures.median_chars <= MAX_MEDIAN_ANSWER_CHARS
