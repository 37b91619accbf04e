"""Tests for citeqa.answer.extract (through QA with the hash embedder, and directly): citations are verbatim."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from citeqa.answer.calibration import Calibration, load_calibration
from citeqa.answer.extract import _cite, _extent, apply_threshold, extract_answer
from citeqa.answer.features import Candidate
from citeqa.encode.embedder import HashEmbedder
from citeqa.ingest.sentences import split_sentences
from citeqa.ingest.terms import terms
from citeqa.models import Answer, Chunk, Citation, Passage, Span
from citeqa.qa import QA

SEED_QA = Path(__file__).resolve().parents[1] / "data" / "seed_qa.jsonl"
QUESTIONS = [json.loads(line)["q"] for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
SEPARATORS = set(" \n…")  # what may stand between two quotes of one answer
SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def assert_made_of_quotes(ans: Answer) -> None:
    """The answer text is its citations' quotes, in order, and nothing else but separators."""
    assert ans.answer
    rest, pos = ans.answer, 0
    for c in ans.citations:
        i = rest.find(c.quote, pos)
        assert i >= 0, f"quote [{c.n}] not in the answer"
        assert set(rest[pos:i]) <= SEPARATORS, f"uncited text {rest[pos:i]!r} in the answer"
        pos = i + len(c.quote)
    assert set(rest[pos:]) <= SEPARATORS, f"uncited text {rest[pos:]!r} in the answer"


def assert_citations_verbatim(qa: QA, ans: Answer) -> None:
    assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    for c in ans.citations:
        doc = qa.document(c.doc)
        assert doc is not None
        assert doc.text[c.start : c.end] == c.quote
        assert c.quote.strip() == c.quote and c.quote


def test_every_seed_question_cites_verbatim(seed_qa: QA) -> None:
    assert len(QUESTIONS) >= 50
    for q in QUESTIONS:
        ans = seed_qa.ask(q, min_confidence=0.0)
        assert not ans.abstained, q
        assert ans.citations, q
        assert_citations_verbatim(seed_qa, ans)
        assert_made_of_quotes(ans)
        if len(ans.citations) == 1:
            assert ans.answer == ans.citations[0].quote
        if ans.answer_span is not None:
            s = ans.answer_span
            assert 0 <= s.start < s.end <= len(ans.answer), q
        assert 0.0 <= ans.confidence <= 1.0
        assert ans.passages
        # The quoted text comes from one of the retrieved passages.
        assert any(p.chunk.doc == c.doc and p.chunk.start <= c.start and c.end <= p.chunk.end
                   for c in ans.citations for p in ans.passages)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_default_threshold_answers_are_verbatim_too(seed_qa: QA, mode: str) -> None:
    for q in QUESTIONS[::7]:
        ans = seed_qa.ask(q, mode=mode)
        if ans.status == "abstained":
            assert ans.answer is None and not ans.citations and ans.answer_span is None
        else:  # answered or tentative: both are cited quotes
            assert_citations_verbatim(seed_qa, ans)
            assert_made_of_quotes(ans)


def test_min_confidence_zero_never_abstains(seed_qa: QA) -> None:
    for q in [*QUESTIONS[::5], "What is the airspeed velocity of an unladen swallow?", "xyzzy plugh"]:
        ans = seed_qa.ask(q, min_confidence=0.0)
        assert not ans.abstained and ans.answer


def test_abstention_keeps_passages(seed_qa: QA) -> None:
    ans = seed_qa.ask("When was the EU-China IoT Advisory Group established?", min_confidence=1.0)
    assert ans.abstained is True and ans.status == "tentative", "above the out-of-corpus floor: tentative"
    assert ans.citations and ans.answer == " ".join(c.quote for c in ans.citations)
    assert ans.passages and ans.passages[0].rank == 1
    assert 0.0 <= ans.confidence < 1.0
    floorless = QA(seed_qa.settings, seed_qa.embedder, replace(seed_qa.calibration, floor=None))
    ans = floorless.ask("When was the EU-China IoT Advisory Group established?", min_confidence=1.0)
    assert ans.status == "abstained" and ans.answer is None and ans.citations == () and ans.answer_span is None
    assert ans.passages and ans.passages[0].rank == 1
    d = ans.to_dict()
    assert d["answer"] is None and d["abstained"] is True and d["status"] == "abstained" and d["passages"]


def test_three_tiers_by_threshold_and_floor() -> None:
    c = Citation(1, "d.txt", "", 0, 5, "Quote", 1.0)
    ans = Answer("q?", "Quote", False, 0.3, Span(0, 5), (c,))
    assert apply_threshold(ans, 0.2, 0.1).status == "answered"
    tentative = apply_threshold(ans, 0.5, 0.1)
    assert tentative.status == "tentative" and tentative.abstained and tentative.answer == "Quote"
    assert tentative.to_dict()["status"] == "tentative" and tentative.to_dict()["citations"]
    gone = apply_threshold(ans, 0.5, 0.4)
    assert gone.status == "abstained" and gone.answer is None and gone.citations == ()
    assert apply_threshold(ans, 0.5).status == "abstained", "no floor: below the threshold is a refusal"
    assert apply_threshold(tentative, 0.2, 0.1).status == "answered", "a lower threshold answers it again"


def test_to_dict_contract(seed_qa: QA) -> None:
    d = seed_qa.ask("When was the EU-China IoT Advisory Group established?", min_confidence=0.0).to_dict()
    assert set(d) == {"question", "answer", "status", "abstained", "confidence", "answer_span", "citations",
                      "passages", "follow_up_of"}
    assert set(d["citations"][0]) == {"n", "doc", "section", "start", "end", "quote", "score", "page"}
    assert set(d["passages"][0]) == {"rank", "chunk_id", "doc", "section", "start", "end", "text", "score",
                                     "dense_score", "bm25_score", "page"}
    json.dumps(d)


# --- extract_answer directly (pure) ----------------------------------------------------


def _passages(texts: list[str], doc: str = "d.txt") -> tuple[str, list[Passage], list[np.ndarray]]:
    emb = HashEmbedder(64)
    full, chunks = "", []
    for t in texts:
        start = len(full)
        full += t + "\n\n"
        sents = tuple(Span(s.start + start, s.end + start) for s in split_sentences(t))
        chunks.append(Chunk(doc, "Section", start, start + len(t), t, sents))
    passages = [Passage(i + 1, c, 1.0 / (i + 1), 0.5, 1.0) for i, c in enumerate(chunks)]
    vecs = [emb.embed([full[s.start : s.end] for s in c.sentences]) for c in chunks]
    return full, passages, vecs


def _ask(question: str, texts: list[str], calibration: Calibration | None = None, min_conf: float | None = 0.0):
    full, passages, vecs = _passages(texts)
    qvec = HashEmbedder(64).embed([question])[0]
    idf = {t: 1.0 for t in terms(question)}
    ans = extract_answer(question, qvec, passages, vecs, idf, calibration or load_calibration(), min_conf)
    return full, ans


def test_extract_answer_quotes_a_slice_of_the_text() -> None:
    full, ans = _ask(
        "When was the advisory group established?",
        ["The weather was fine. Nothing else happened.",
         "The advisory group was established in February 2011. Its first meeting followed."],
    )
    assert not ans.abstained
    (c,) = ans.citations
    assert full[c.start : c.end] == c.quote == ans.answer
    assert "February 2011" in ans.answer
    assert ans.answer_span is not None
    assert ans.answer[ans.answer_span.start : ans.answer_span.end] == "February 2011"


def test_extract_answer_quotes_lead_in_with_its_list() -> None:
    text = "The cooperation will mainly include:\n\n  • Co-research on IoT\n  • Testing sites in cities"
    full, ans = _ask("What will the cooperation mainly include?", [text])
    assert not ans.abstained
    (c,) = ans.citations
    assert full[c.start : c.end] == c.quote
    if c.quote.startswith("The cooperation will mainly include:"):
        assert "Co-research on IoT" in c.quote


def test_extract_answer_without_passages_abstains() -> None:
    ans = extract_answer("Anything?", np.zeros(64, dtype=np.float32), [], [], {}, load_calibration(), 0.0)
    assert ans.abstained and ans.answer is None and ans.confidence == 0.0 and ans.passages == ()


def test_extract_answer_threshold_from_calibration_or_argument() -> None:
    texts = ["The advisory group was established in February 2011."]
    strict = Calibration(threshold=1.0)  # no weights: confidence is 0.5 for everything
    _, ans = _ask("When was the advisory group established?", texts, strict, None)
    assert ans.abstained and ans.answer is None and ans.passages
    _, ans = _ask("When was the advisory group established?", texts, strict, 0.0)
    assert not ans.abstained and ans.answer
    lax = Calibration(threshold=0.0)
    _, ans = _ask("When was the advisory group established?", texts, lax, 1.0)
    assert ans.abstained and ans.status == "abstained", "no floor in the calibration: a refusal"
    _, ans = _ask("When was the advisory group established?", texts, Calibration(threshold=1.0, floor=0.3), None)
    assert ans.status == "tentative" and ans.answer == "The advisory group was established in February 2011."


def test_a_sentence_that_leans_back_brings_the_one_before() -> None:
    text = "The broadband activity was run by the ministry. It lasted twelve months in all."
    full, passages, _ = _passages([text])
    chunk = passages[0].chunk
    assert _extent(chunk, 1) == (0, 1), "'It lasted…' leans on the sentence before"
    assert _extent(chunk, 0) == (0, 0)
    (c,) = _cite(passages, [Candidate(0, 1, chunk.sentences[1], 1.0, {})])
    assert full[c.start : c.end] == c.quote == text


def test_a_list_item_brings_its_lead_in_as_a_second_quote() -> None:
    text = ("The activity aimed to:\n\n  • Prepare input to the rollout strategy.\n  • Improve the expert network."
            "\n  • Study broadband for disadvantaged regions and rural towns.")
    full, ans = _ask("Which item concerned disadvantaged regions and rural towns?", [text])
    assert [c.quote for c in ans.citations] == ["The activity aimed to:",
                                                "Study broadband for disadvantaged regions and rural towns."]
    assert all(full[c.start : c.end] == c.quote for c in ans.citations)
    assert ans.answer == "The activity aimed to: Study broadband for disadvantaged regions and rural towns."


def _chunk_of(text: str) -> Chunk:
    return Chunk("d.txt", "", 0, len(text), text, tuple(split_sentences(text)))


def test_a_lead_in_quotes_its_own_items_and_nothing_after_the_list() -> None:
    text = ("The cooperation will mainly include:\n  • Research on the framework\n  • Testing sites in cities\n"
            "The group met twice a year.\n\nThe annual fee is twelve euros.")
    ch = _chunk_of(text)
    lo, hi = _extent(ch, 0)
    quoted = text[ch.sentences[lo].start : ch.sentences[hi].end]
    assert quoted.endswith("Testing sites in cities") and "met twice" not in quoted


def test_an_item_the_question_does_not_name_quotes_the_whole_list_under_its_lead_in() -> None:
    text = "Every boat must carry:\n\n• a lamp\n\n• two oars\n\n• a life jacket for each person\n\nFees are paid."
    full, passages, _ = _passages([text])
    chunk = passages[0].chunk
    lamp = Candidate(0, 1, chunk.sentences[1], 1.0, {})
    (c,) = _cite(passages, [lamp], set(terms("What must every boat carry?")))
    assert c.quote == "Every boat must carry:\n\n• a lamp\n\n• two oars\n\n• a life jacket for each person"
    assert full[c.start : c.end] == c.quote
    named = _cite(passages, [lamp], set(terms("Which item is a lamp?")))  # the item itself: lead-in and item
    assert [q.quote for q in named] == ["Every boat must carry:\n\n• a lamp"]


def test_table_rows_come_with_their_header_and_a_header_with_its_rows() -> None:
    text = "Boat | Day | Week\nDinghy | 5 | 25\nYacht | on request\n\nFees are paid at the office."
    ch = _chunk_of(text)
    assert [ch.table_row(i) for i in range(4)] == [True, True, True, False]
    assert [ch.lead_in(i) for i in range(4)] == [None, 0, 0, None]
    assert _extent(ch, 0) == (0, 2), "the header brings its rows"
    assert _extent(ch, 1) == (1, 1) and _extent(ch, 3) == (3, 3)
    assert ch.sentence_embed_text(1) == "Boat | Day | Week — Dinghy | 5 | 25"
    full, passages, _ = _passages([text])
    chunk = passages[0].chunk
    dinghy = Candidate(0, 1, chunk.sentences[1], 1.0, {})
    (c,) = _cite(passages, [dinghy], set(terms("What does a dinghy cost for a week?")))
    assert c.quote == "Boat | Day | Week\nDinghy | 5 | 25" == full[c.start : c.end]
    # lines of shell pipes read as rows too (" | "): the second brings the first along, which is harmless
    ls = _chunk_of("Count the files:\nls | wc -l\nls -a | wc -l")
    assert ls.lead_in(2) == 1 and ls.lead_in(1) is None


def test_a_lead_in_before_a_paragraph_is_not_glued_to_it() -> None:
    text = "Members follow these rules:\n\nThe annual membership fee is twelve euros."
    ch = _chunk_of(text)
    assert _extent(ch, 0) == (0, 0) or "fee" not in text[ch.sentences[0].start : ch.sentences[_extent(ch, 0)[1]].end]


def test_a_sentence_left_open_quotes_the_line_that_completes_it() -> None:
    text = "To quit the editor program the command is\n  :q!\nIt discards every change.\n\nOther text."
    ch = _chunk_of(text)
    lo, hi = _extent(ch, 0)
    assert text[ch.sentences[lo].start : ch.sentences[hi].end] == "To quit the editor program the command is\n  :q!"
