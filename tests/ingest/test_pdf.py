"""Tests for citeqa.ingest.pdf: page text through PDFium, page offsets, outline sections, quote boxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citeqa.ingest.chunking import chunk_document
from citeqa.ingest.files import read_document
from citeqa.ingest.pages import PAGE_SEP, page_body, running_lines
from citeqa.ingest.pdf import merge_boxes, page_text, quote_boxes, read_pdf
from citeqa.models import Document, page_at
from pdfs import GUIDE_OUTLINE, GUIDE_PAGES, pages_pdf

PAGES, OUTLINE = GUIDE_PAGES, GUIDE_OUTLINE


@pytest.fixture()
def guide(tmp_path: Path) -> Path:
    path = tmp_path / "guide.pdf"
    path.write_bytes(pages_pdf(PAGES, OUTLINE))
    return path


def test_text_is_each_page_in_order_with_page_start_offsets(guide: Path) -> None:
    doc = read_document(guide, "guide.pdf")
    assert doc.format == "pdf" and len(doc.pages) == len(PAGES) and doc.pages[0] == 0
    ends = [*doc.pages[1:], len(doc.text) + len(PAGE_SEP)]
    for lines, a, b in zip(PAGES, doc.pages, ends, strict=True):
        assert doc.text[a : b - len(PAGE_SEP)] == "\n".join(lines)
        assert b == len(doc.text) + len(PAGE_SEP) or doc.text[b - len(PAGE_SEP) : b] == PAGE_SEP
    for i, (a, b) in enumerate(zip(doc.pages, ends, strict=True), start=1):
        assert {doc.page_at(x) for x in range(a, b - len(PAGE_SEP))} == {i}
    assert page_at((), 5) is None and doc.page_at(len(doc.text)) == len(PAGES)


def test_words_placed_apart_without_spaces_keep_their_spaces() -> None:
    """Typesetters often place each word at its own position with no space character: PDFium sees the gaps."""
    lines = ["Here are a few basic methods to gain the root shell prompt.", "Type root at the login prompt."]
    got = read_pdf(pages_pdf([lines], placed_words=True))
    assert got.text == "\n".join(lines)


def test_line_end_hyphenation_is_joined() -> None:
    got = read_pdf(pages_pdf([["start the command shell di-", "rectly on the host."]]))
    assert got.text == "start the command shell directly on the host."


def test_outline_becomes_sections_located_on_their_pages(guide: Path) -> None:
    doc = read_document(guide, "guide.pdf")
    got = [(h.title, h.level, doc.page_at(h.start)) for h in doc.headings]
    assert got == [("1 Introduction", 1, 2), ("1.1 Keepers", 2, 3), ("2 History", 1, 3), ("Lamp and fuel", 2, 4)]
    for h in doc.headings[:3]:
        assert doc.text[h.start : h.end] == h.title, "a found title spans its line, number included"
    missing = doc.headings[3]
    assert missing.start == missing.end == doc.pages[3], "a title not on its page: an empty heading at the page top"
    chunks = chunk_document(doc, chunk_chars=200)
    by_section = {c.section: c.text for c in chunks}
    assert "painted red in 1921" in by_section["1 Introduction"]
    assert "Mirela Voss" in by_section["1.1 Keepers"]
    assert "whale oil" in by_section["Lamp and fuel"]
    assert by_section[""].startswith("Lighthouse Guide"), "the text before the first bookmark has no section"
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text


def test_pdf_without_outline_keeps_detected_titles() -> None:
    got = read_pdf(pages_pdf([["Plain Title", "", "Some text that goes on for a while here."]]))
    assert got.headings == ()


def test_quote_boxes_mark_the_quote_on_its_page(guide: Path) -> None:
    doc = read_document(guide, "guide.pdf")
    quote = "painted red in 1921.\nIt stands"
    start = doc.text.index(quote)
    found = quote_boxes(guide, doc, start, start + len(quote))
    assert found is not None and found.page == 2
    assert len(found.boxes) == 2, "one rectangle per line"
    first, second = found.boxes
    for left, top, right, bottom in found.boxes:
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
    assert first[3] <= second[1] + 0.01, "the second line is below the first"
    assert 72 / 612 - 0.01 <= second[0] <= 72 / 612 + 0.01, "the second line starts at the left margin"
    assert 0.08 < first[1] < 0.12, "the page's second line, 72 pt + 16 pt from the top of a 792 pt page"


def test_quote_boxes_refuse_a_changed_file(guide: Path, tmp_path: Path) -> None:
    doc = read_document(guide, "guide.pdf")
    start = doc.text.index("Mirela")
    changed = [list(p) for p in PAGES]
    changed[2][1] = "Someone else kept the light from 1931 to 1960."
    guide.write_bytes(pages_pdf(changed, OUTLINE))
    assert quote_boxes(guide, doc, start, start + 11) is None


def test_merge_boxes_joins_characters_of_one_line() -> None:
    chars = [(0.1, 0.1, 0.12, 0.12), (0.12, 0.1, 0.14, 0.121), (0.1, 0.2, 0.11, 0.22)]
    assert merge_boxes(chars) == [(0.1, 0.1, 0.14, 0.121), (0.1, 0.2, 0.11, 0.22)]


def test_characters_outside_the_basic_plane_map_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """When PDFium's UTF-16 text does not line up with its characters, they are read one at a time."""
    import pypdfium2.raw as raw

    codes = [0x48, 0xD83D, 0xDE00, 0x0D, 0x0A, 0xDC00, 0x21]

    class FakeTextPage:
        def count_chars(self) -> int:
            return len(codes)

        def get_text_range(self) -> str:
            return "H\U0001f600\r\n!"  # one item short: the pair decodes to one character, the lone half is lost

    monkeypatch.setattr(raw, "FPDFText_GetUnicode", lambda tp, i: codes[i])
    text, index = page_text(FakeTextPage())
    assert text == "H\U0001f600\n\ufffd!"
    assert index == [0, 1, 4, 5, 6]


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'éü", min_size=2,
                 max_size=12)  # lines of two words and more: PDFium reads one-letter lines stacked as vertical text


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.lists(_WORDS, min_size=2, max_size=8).map(" ".join), min_size=0, max_size=6),
                min_size=1, max_size=5),
       st.booleans())
def test_page_offsets_and_chunks_hold_for_any_text(pages: list[list[str]], placed: bool) -> None:
    if not any(pages):
        pages = [*pages, ["Some text here."]]
    got = read_pdf(pages_pdf(pages, placed_words=placed))
    assert len(got.pages) == len(pages) and got.pages[0] == 0
    ends = [*got.pages[1:], len(got.text) + len(PAGE_SEP)]
    plain = running_lines(["\n".join(lines) for lines in pages]) == (frozenset(), frozenset())
    for i, lines in enumerate(pages, start=1):
        body = page_body(got.text, got.pages, i)
        assert body == "\n".join(lines) if plain else body in "\n".join(lines)  # less its running lines
    doc = Document("p.pdf", got.text, "pdf", "x", got.headings, got.pages)
    for chunk in chunk_document(doc, chunk_chars=80):
        assert doc.text[chunk.start : chunk.end] == chunk.text
        page = doc.page_at(chunk.start)
        assert doc.pages[page - 1] <= chunk.start < ends[page - 1]
