"""Quality floors on gold sets the shipped weights never saw (written blind), with the real bundled model.

* ``seed_fresh.jsonl``: 84 new questions on the seed document, phrased the way a user asks.
* The Debian Reference, chapter 1 (``tests/data/debref/ch01.en.html``, GPL-2+, by Osamu Aoki): the chapter's
  questions of ``debref_test.jsonl`` (report set) and ``debref_dev.jsonl``, with the out-of-corpus questions of
  both. The whole manual is measured by ``benchmarks/heldout.py`` (docs/quality.md).

Each floor sits a little below what was measured when it was set (the figure is in the comment) so that a
regression fails; raise it when the answerer improves, never lower it to pass. The issue's targets are far above
some of them (docs/quality.md says which are not met).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from citeqa.config import Settings
from citeqa.eval.evaluate import GoldItem, ItemResult, Report, answer_hit, evaluate, load_gold
from citeqa.qa import QA

DATA = Path(__file__).resolve().parents[1] / "data"
MANUAL_HIT = 0.6  # target 0.85 answering everything (whole manual); measured 0.625 (10 of 16)
MANUAL_RECALL_AT_5 = 0.85  # measured 0.875

pytestmark = pytest.mark.integration


def _why(report: Report, failed: list[ItemResult]) -> str:
    lines = ["", *report.lines(), "", f"{len(failed)} question(s):"]
    lines += [f"  {r.item.q!r} -> {r.answer.answer!r} ({r.answer.status}, {r.answer.confidence:.2f})"
              for r in failed[:12]]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def fresh(real_qa: QA) -> tuple[Report, list[ItemResult], list[ItemResult]]:
    items = load_gold(DATA / "seed_fresh.jsonl")
    report, results = evaluate(real_qa, items)
    _, everything = evaluate(real_qa, items, min_confidence=0.0)
    return report, results, everything


def test_fresh_seed_questions(fresh: tuple[Report, list[ItemResult], list[ItemResult]]) -> None:
    report, results, everything = fresh
    assert report.n_answerable >= 60 and report.n - report.n_answerable >= 14
    missed = [r for r in results if r.item.answerable and not r.hit]
    assert report.answer_hit >= 0.74, _why(report, missed)  # target 0.95 answering everything; measured 0.776
    hit_all = sum(answer_hit(r.answer.answer, r.item.answers) for r in everything if r.item.answerable)
    assert hit_all / report.n_answerable >= 0.83, _why(report, missed)  # target 0.95; measured 0.866
    refused = [r for r in results if r.item.answerable and r.answer.abstained]
    assert report.false_abstention <= 0.12, _why(report, refused)  # target 0.05; measured 0.104 (0.030 tentative)
    assert report.refused_by_kind["out-of-corpus"] == 1.0  # target 0.95; measured 1.000
    assert report.median_answer_chars <= 250 and report.citation_verbatim == 1.0  # measured 200, 1.000


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, list[ItemResult], list[GoldItem]]:
    corpus = tmp_path_factory.mktemp("debref") / "corpus"
    corpus.mkdir()
    shutil.copy(DATA / "debref" / "ch01.en.html", corpus)
    qa = QA(Settings(corpus_dir=corpus, index_dir=corpus.parent / "index"))
    qa.build()
    items = [it for name in ("debref_test.jsonl", "debref_dev.jsonl") for it, raw in _with_doc(DATA / name)
             if raw.get("doc") == "ch01.en.html" or raw.get("kind") == "out-of-corpus"]
    report, results = evaluate(qa, items)
    return report, results, items


def _with_doc(path: Path) -> list[tuple[GoldItem, dict]]:
    import json

    raws = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(zip(load_gold(path), raws))


def test_a_chapter_of_a_real_manual(manual: tuple[Report, list[ItemResult], list[GoldItem]]) -> None:
    report, results, _ = manual
    assert report.n_answerable == 16 and report.n - report.n_answerable == 8
    missed = [r for r in results if r.item.answerable and not r.hit]
    assert report.answer_hit >= MANUAL_HIT, _why(report, missed)
    assert report.refused_by_kind["out-of-corpus"] == 1.0
    assert report.citation_verbatim == 1.0 and report.median_answer_chars <= 250
    assert report.recall_at[5] >= MANUAL_RECALL_AT_5, _why(report, missed)

