"""render.py: escaped HTML for answers, evidence, passages and documents (no browser, no model)."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citeqa.app import answer_view, render
from citeqa.models import Answer, Chunk, Citation, Passage, Span

DOC = "Title\n\nFirst line.\nThe group was set up in <b>February 2011</b> & met.\nLast line.\n"
EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)> **b** [l](javascript:alert(3)) ${7*7} {{x}} $$x$$'


def _answer(text: str = DOC, quote: str = "The group was set up in <b>February 2011</b> & met.") -> Answer:
    start = text.index(quote)
    chunk = Chunk("docs/a.txt", "Sec <i>1</i>", 0, len(text), text)
    cite = Citation(1, "docs/a.txt", "Sec <i>1</i>", start, start + len(quote), quote, 0.9)
    span_at = quote.index("February")
    return Answer("When was it set up?", quote, False, 0.93, Span(span_at, span_at + len("February 2011</b>")),
                  (cite,), (Passage(1, chunk, 0.03, 0.71, 4.2),))


def _tags(fragment: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", fragment)}


def test_esc_neutralises_html_markdown_and_templates() -> None:
    out = render.esc(EVIL)
    assert "<" not in out and ">" not in out
    for ch in "*[]()${}":
        assert ch not in out
    assert html.unescape(out) == EVIL


def test_esc_keeps_line_breaks_as_br_and_esc_pre_as_newlines() -> None:
    assert render.esc("a\nb\r\nc") == "a<br>b<br>c"
    assert render.esc_pre("a\nb\r\nc") == "a\nb\nc"


@given(st.text())
def test_esc_round_trips_and_never_emits_tags(text: str) -> None:
    out = render.esc(text.replace("\r", "").replace("\n", " "))
    assert "<" not in out and ">" not in out and '"' not in out
    assert html.unescape(out) == text.replace("\r", "").replace("\n", " ")


def test_line_range() -> None:
    text = "a\nbb\nccc\n"
    assert render.line_range(text, 0, 1) == (1, 1)
    assert render.line_range(text, 2, 4) == (2, 2)
    assert render.line_range(text, 2, 8) == (2, 3)
    assert render.line_range(text, 5, 5) == (3, 3)
    assert render.lines_label(2, 2) == "line 2" and render.lines_label(2, 3) == "lines 2–3"


def test_answer_html_marks_the_short_answer_as_citeqas_with_a_legend() -> None:
    assert "cq-span" not in answer_view.answer_html(_answer())  # off in the app until a span model exists
    out = answer_view.answer_html(_answer(), show_span=True)
    assert re.search(r'<mark class="cq-span" title="citeqa\'s short answer[^"]*">February 2011&lt;/b&gt;</mark>', out)
    assert "citeqa's short answer, its own highlight" in out  # the legend
    assert 'data-cite="1">[1]</a></sup>' in out
    assert out.index("</mark>") < out.index('class="cq-ref-link"')
    assert "high confidence (0.93)" in out
    assert "\n" not in out
    assert _tags(out) <= {"div", "blockquote", "mark", "sup", "a", "ul", "li", "span", "em", "p"}


def test_no_short_answer_when_not_confident() -> None:
    ans = _answer()
    low = Answer(ans.question, ans.answer, False, 0.3, ans.answer_span, ans.citations, ans.passages)
    out = answer_view.answer_html(low, show_span=True)
    assert "cq-span" not in out and "medium confidence (0.30)" in out


def test_quotes_from_different_places_are_separate_blocks() -> None:
    c1 = Citation(1, "a", "", 0, 3, "One.", 0.5)
    c2 = Citation(2, "b", "", 0, 3, "Two.", 0.5)
    out = answer_view.answer_html(Answer("q", "One. Two.", False, 0.5, None, (c1, c2)))
    blocks = re.findall(r'<blockquote class="cq-quote" data-cite="(\d)">(.*?)</blockquote>', out)
    assert [n for n, _ in blocks] == ["1", "2"]
    assert blocks[0][1].startswith("One&#46;") and "[1]" in blocks[0][1] and "Two" not in blocks[0][1]
    assert "medium confidence" in out


def test_confidence_bands_follow_the_threshold() -> None:
    assert answer_view.confidence_level(0.25, threshold=0.2) == "medium"
    assert answer_view.confidence_level(0.61, threshold=0.2) == "high"
    assert answer_view.confidence_level(0.19, threshold=0.2) == "low"
    assert answer_view.confidence_level(0.5, threshold=0.6) == "low"
    assert "under the answer threshold 0.20" in answer_view.confidence_html(0.19, tentative=True)


def test_abstention_says_so_and_lists_closest_passages() -> None:
    ans = _answer()
    abstained = Answer("What is the capital of <Australia>?", None, True, 0.02, passages=ans.passages)
    out = answer_view.answer_html(abstained)
    assert "The documents don't say" in out
    assert "&lt;Australia&gt;" in out
    assert "Closest passages" in out and "docs/a&#46;txt" in out
    assert "too low to answer (0.02)" in out and "cq-conf-low" in out
    assert "cq-conf-low" in answer_view.answer_html(Answer("q", None, True, 0.6, passages=ans.passages))
    assert "<b>" not in out and "<i>" not in out


def test_error_html_escapes() -> None:
    assert render.error_html("bad <img src=x>") == '<div class="cq-error">⚠ bad &lt;img src&#61;x&gt;</div>'


def test_evidence_marks_quote_inside_whole_passage_with_lines() -> None:
    ans = _answer()
    out = render.evidence_html(ans, {"docs/a.txt": DOC})
    mark = re.search(r'<mark class="cq-target">(.*?)</mark>', out, re.S)
    assert mark and html.unescape(mark.group(1)) == ans.citations[0].quote
    assert "line 4," in out and f"characters {ans.citations[0].start}–{ans.citations[0].end}" in out
    assert "First line" in out and "Last line" in out  # the whole passage
    assert "Sec &lt;i&gt;1&lt;/i&gt;" in out
    assert 'data-cite="1"' in out
    assert _tags(out) <= {"div", "span", "mark", "button", "em"}


def test_evidence_without_answer_or_citations() -> None:
    assert "Ask a question" in render.evidence_html(None, {})
    abstained = Answer("q", None, True, 0.1)
    assert "don't answer" in render.evidence_html(abstained, {})


def test_passages_html_lists_all_scores() -> None:
    out = render.passages_html(_answer())
    assert "fused 0.0300" in out and "dense 0.710" in out and "BM25 4.20" in out
    assert "cq-cited" in out and 'data-rank="1"' in out
    assert re.search(r'<mark class="cq-target">The group was set up', out)
    assert "&lt;b&gt;February" in out
    none_scores = Answer("q", None, True, 0.1, passages=(Passage(1, Chunk("d", "", 0, 1, "x"), 0.5),))
    assert "dense —" in render.passages_html(none_scores)
    assert "No passages" in render.passages_html(None)


def test_document_html_marks_target_with_id() -> None:
    start = DOC.index("The group")
    out = render.document_html("docs/a.txt", DOC, start, start + 9)
    assert f'<mark class="cq-target" id="{render.TARGET_ID}">The group</mark>' in out
    assert "&lt;b&gt;February 2011&lt;/b&gt;" in out
    assert "line 4, characters" in out
    assert "not in the index" in render.document_html("gone.txt", None)
    assert "<mark" not in render.document_html("a", "plain")


@pytest.mark.parametrize("payload", [EVIL, "<svg onload=alert(1)>", '"><img src=x onerror=alert(1)>', "javascript:x"])
def test_no_tag_or_handler_from_document_text_survives(payload: str) -> None:
    text = f"Intro.\n{payload} is here.\n"
    start = text.index(payload)
    chunk = Chunk(payload, payload, 0, len(text), text)
    cite = Citation(1, payload, payload, start, start + len(payload), payload, 0.5)
    ans = Answer(payload, payload, False, 0.8, Span(0, 3), (cite,), (Passage(1, chunk, 0.1, 0.2, 0.3),))
    outputs = [answer_view.answer_html(ans), render.evidence_html(ans, {payload: text}), render.passages_html(ans),
               render.document_html(payload, text, start, start + 3), render.question_html(payload),
               render.documents_html([(payload, "txt", 3)], {payload: 10}),
               answer_view.answer_html(Answer(payload, None, True, 0.0, passages=ans.passages))]
    for out in outputs:
        assert _tags(out) <= {"div", "span", "mark", "button", "em", "strong", "sup", "a", "ul", "li", "blockquote",
                              "details", "summary", "pre", "p", "table", "thead", "tbody", "tr", "th", "td", "br"}
        assert "onerror=" not in out and "onload=" not in out and "javascript:" not in out


def test_documents_html_sizes() -> None:
    out = render.documents_html([("a.txt", "txt", 1234), ("b.pdf", "pdf", 99)], {"a.txt": 2048, "b.pdf": 5_000_000})
    assert "2 documents indexed" in out and "1,234" in out and "2.0 KB" in out and "4.8 MB" in out
    assert "No document" in render.documents_html([])


def test_confidence_levels() -> None:
    assert answer_view.confidence_level(0.9) == "high"
    assert answer_view.confidence_level(0.5) == "medium"
    assert answer_view.confidence_level(0.1) == "low"
    assert "●●●●●" in answer_view.confidence_html(1.0) and "○○○○○" in answer_view.confidence_html(0.0)


def test_tentative_answer_is_shown_as_a_possible_answer_with_its_citation() -> None:
    ans = _answer()
    tentative = Answer(ans.question, ans.answer, True, 0.17, ans.answer_span, ans.citations, ans.passages)
    assert tentative.status == "tentative"
    out = answer_view.answer_html(tentative)
    assert "Possible answer (low confidence)" in out and "cq-tentative" in out
    assert "February" in out and 'class="cq-ref"' in out and "docs/a.txt" in html.unescape(out)
    assert "low: under the answer threshold 0.20 (0.17)" in out and "too low to answer" not in out
    assert "<b>" not in out, "still escaped"
    assert "Possible answer" not in answer_view.answer_html(ans)


def test_evidence_names_its_question_shows_a_passage_once_and_copies_plain_text() -> None:
    ans = _answer()
    c1 = ans.citations[0]
    c2 = Citation(2, c1.doc, c1.section, c1.start - 4, c1.start - 1, DOC[c1.start - 4 : c1.start - 1], 0.4)
    two = Answer(ans.question, f"{c1.quote} {c2.quote}", False, 0.8, None, (c1, c2), ans.passages)
    out = render.evidence_html(two, {"docs/a.txt": DOC})
    assert out.count('class="cq-card"') == 1 and 'data-cites="1 2"' in out  # one passage, both marks
    assert "Evidence for: “" in out
    copied = html.unescape(re.search(r'data-text="([^"]*)"', out).group(1))
    assert c1.quote in copied and "<mark" not in copied and "<br>" not in copied and "&#" not in copied
    assert "[1] docs/a.txt, " in copied and "\n" in copied  # plain text, the document's own characters
