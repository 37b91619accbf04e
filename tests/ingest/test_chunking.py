"""Tests for citeqa.ingest.chunking: offsets, sections, lead-ins, size bound, overlap and ids."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from citeqa.ingest.chunking import chunk_corpus, chunk_document, detect_headings, sections
from citeqa.ingest.files import load_corpus
from citeqa.ingest.html import html_to_text
from citeqa.ingest.markdown import markdown_headings
from citeqa.ingest.sentences import is_space
from citeqa.models import Chunk, Document, sha256_hex

SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _doc(text: str, fmt: str = "txt", path: str = "doc.txt") -> Document:
    headings = markdown_headings(text) if fmt == "md" else ()
    return Document(path=path, text=text, format=fmt, sha256=sha256_hex(text), headings=headings)


def _seed() -> Document:
    docs, _ = load_corpus(SEED_CORPUS)
    return docs[0]


def check_chunks(doc: Document, chunks: list[Chunk], chunk_chars: int | None = None) -> None:
    """The invariants every chunking must keep."""
    heads = sorted(doc.headings if doc.format in ("md", "html") else doc.headings or detect_headings(doc.text),
                   key=lambda h: h.start)
    prev_end = 0
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.doc == doc.path
        assert c.text and not is_space(c.text[0]) and not is_space(c.text[-1])
        assert c.sentences and c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        assert all(a.end <= b.start for a, b in pairwise(c.sentences))
        assert c.start >= prev_end, "chunks are in order and disjoint"
        prev_end = c.end
        for h in heads:
            assert c.end <= h.start or c.start >= h.end, f"chunk {c.text[:40]!r} crosses heading {h.title!r}"
        before = [h for h in heads if h.end <= c.start]
        if before:
            assert c.section == " ".join(before[-1].title.split())
        if chunk_chars is not None:
            assert len(c.text) <= chunk_chars


# --- the seed document --------------------------------------------------------


def test_seed_offsets_and_invariants() -> None:
    doc = _seed()
    chunks = chunk_document(doc)
    assert len(chunks) > 5
    check_chunks(doc, chunks, chunk_chars=700)


def test_seed_title_lines_become_sections() -> None:
    doc = _seed()
    titles = [t for t, _ in sections(doc)]
    assert titles == [
        "EU-China expert groups",
        "Expert Group on Future Internet/IPv6",
        "EU-China IoT Advisory Group",
        "EU-China Green Smart City Expert Group",
        "EU-China Broadband Policy Expert Group",
    ]
    chunks = chunk_document(doc)
    assert {c.section for c in chunks} == set(titles)
    iot = [c for c in chunks if c.section == "EU-China IoT Advisory Group"]
    assert iot[0].text.startswith("The EU-China IoT Advisory Group was established in February 2011.")
    assert all("EU-China IoT Advisory Group\n" not in c.text for c in chunks), "heading lines are not chunk text"


def test_seed_lead_in_stays_with_its_list() -> None:
    doc = _seed()
    for c in chunk_document(doc):
        for i, s in enumerate(c.sentences):
            if doc.text[s.start : s.end].endswith(":"):
                assert i + 1 < len(c.sentences), f"lead-in {doc.text[s.start:s.end]!r} ends its chunk"
    lead = "The cooperation mainly focused on:"
    (chunk,) = [c for c in chunk_document(doc) if lead in c.text]
    assert "• The establishment of Internet innovative platform" in chunk.text


def test_chunk_corpus_is_chunks_of_each_document_in_order() -> None:
    a, b = _doc("First doc. It has text.", path="a.txt"), _doc("Second doc. More text.", path="b.txt")
    got = chunk_corpus([a, b], 100)
    assert got == chunk_document(a, 100) + chunk_document(b, 100)


# --- synthetic documents ------------------------------------------------------


def test_markdown_headings_bound_chunks() -> None:
    text = (
        "# Intro\n\nSome text here. More text follows.\r\n\n## Details\n\n"
        "The list:\n\n- alpha item\n- beta item\n\nSetext Title\n======\n\nBody text.\n"
    )
    doc = _doc(text, "md", "a.md")
    chunks = chunk_document(doc, 200)
    check_chunks(doc, chunks, 200)
    assert [(c.section, c.text) for c in chunks] == [
        ("Intro", "Some text here. More text follows."),
        ("Details", "The list:\n\n- alpha item\n- beta item"),
        ("Setext Title", "Body text."),
    ]


def test_markdown_heading_splits_even_tiny_sections() -> None:
    text = "# A\n\none.\n\n# B\n\ntwo.\n\n# C\n\nthree.\n"
    doc = _doc(text, "md", "a.md")
    chunks = chunk_document(doc, 700)
    check_chunks(doc, chunks)
    assert [(c.section, c.text) for c in chunks] == [("A", "one."), ("B", "two."), ("C", "three.")]


def test_html_text_chunks() -> None:
    html = (
        "<html><head><title>T</title><style>p {}</style></head><body><h1>Main Title</h1>"
        "<p>First para. Second sentence.</p><h2>Sub</h2><p>The list:</p><ul><li>one thing</li>"
        "<li>two things</li></ul><p>After &amp; more&nbsp;text.</p></body></html>"
    )
    text, headings = html_to_text(html)
    doc = Document("a.html", text, "html", sha256_hex(html), headings)
    chunks = chunk_document(doc, 100)
    check_chunks(doc, chunks, 100)
    assert [c.section for c in chunks] == ["Main Title", "Sub"]
    assert chunks[0].text == "First para. Second sentence."
    assert chunks[1].text.startswith("The list:\n\n• one thing")


def test_crlf_text_chunks() -> None:
    body = "".join(f"Sentence number {i} talks about topic {i}. " for i in range(30))
    body = body.replace(". S", ".\r\nS")
    text = f"Report Title\r\n\r\n{body}\r\n\r\nSecond Part Heading\r\n\r\nLast words here.\r\n"
    doc = _doc(text)
    chunks = chunk_document(doc, 200)
    check_chunks(doc, chunks, 200)
    assert chunks[0].section == "Report Title"
    assert chunks[-1].section == "Second Part Heading"
    assert chunks[-1].text == "Last words here."
    assert all("\r" not in c.text[-1:] for c in chunks)


def test_huge_paragraph_without_punctuation_is_cut_to_size() -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    doc = _doc(text)
    chunks = chunk_document(doc, 300)
    check_chunks(doc, chunks, 300)
    assert len(chunks) > len(text) // 300
    assert " ".join(c.text for c in chunks) == text


def test_single_unbroken_token_is_cut_hard() -> None:
    text = "Intro sentence.\n\n" + "x" * 1000
    doc = _doc(text)
    chunks = chunk_document(doc, 100)
    check_chunks(doc, chunks, 100)
    assert "".join(c.text for c in chunks[1:]) == "x" * 1000


@pytest.mark.parametrize("chunk_chars", [80, 150, 300, 700, 2000])
def test_size_bound_respected(chunk_chars: int) -> None:
    doc = _seed()
    chunks = chunk_document(doc, chunk_chars)
    check_chunks(doc, chunks, chunk_chars)


def test_paragraphs_are_packed_up_to_the_bound() -> None:
    text = "\n\n".join(f"Paragraph {i} is here." for i in range(10))
    doc = _doc(text)
    chunks = chunk_document(doc, 75)
    check_chunks(doc, chunks, 75)
    assert len(chunks) < 10
    assert all("\n\n" in c.text for c in chunks[:-1])


def test_lead_in_kept_with_list_even_when_previous_chunk_has_room() -> None:
    long_para = " ".join(["The previous paragraph talks at length about the background."] * 10)
    items = "  • First item here, with a good many more words in it\n  • Second item here, also a longer one\n"
    text = f"{long_para}\n\nThe cooperation will mainly include:\n\n{items}"
    doc = _doc(text)
    chunks = chunk_document(doc, 700)
    check_chunks(doc, chunks, 700)
    assert len(text[: text.index(":") + 1]) < 700 < len(text.rstrip()), "the lead-in alone would fit"
    (with_lead,) = [c for c in chunks if "mainly include:" in c.text]
    assert with_lead.text.startswith("The cooperation will mainly include:")
    assert "• First item here" in with_lead.text and "Second item here" in with_lead.text


def test_chunk_chars_minimum() -> None:
    with pytest.raises(ValueError, match="chunk_chars"):
        chunk_document(_doc("Some text."), 10)


def test_whitespace_only_document_has_no_chunks() -> None:
    assert chunk_document(_doc(" \n\n\t \r\n")) == []


# --- overlap ------------------------------------------------------------------


def test_overlap_sentences_repeat_the_tail_of_the_previous_chunk() -> None:
    doc = _seed()
    plain = chunk_document(doc, 300, 0)
    over = chunk_document(doc, 300, 1)
    assert len(plain) == len(over)
    for i, (p, o) in enumerate(zip(plain, over, strict=True)):
        assert doc.text[o.start : o.end] == o.text
        first_of_section = i == 0 or plain[i - 1].section != p.section
        if first_of_section:
            assert o == p
        else:
            assert o.sentences[0] == plain[i - 1].sentences[-1]
            assert o.sentences[1:] == p.sentences
            assert o.end == p.end and o.start < p.start


def test_overlap_never_crosses_sections() -> None:
    doc = _doc("# A\n\nOne. Two. Three.\n\n# B\n\nFour. Five. Six.\n", "md", "a.md")
    chunks = chunk_document(doc, 50, 2)
    b = [c for c in chunks if c.section == "B"]
    assert b[0].text.startswith("Four.")


# --- ids ------------------------------------------------------------------------


def test_chunk_ids_stable_and_content_derived() -> None:
    doc = _seed()
    first, again = chunk_document(doc), chunk_document(_seed())
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    for c in first:
        assert c.id == sha256_hex(f"{c.doc}\0{c.start}\0{c.text}")[:16]
    # Editing the last section changes only the chunks of that section.
    last = first[-1]
    edited = Document(doc.path, doc.text[: last.start] + "Changed. " + doc.text[last.start :], doc.format, "x")
    ids = [c.id for c in chunk_document(edited)]
    assert ids[: len(first) - 1] == [c.id for c in first[:-1]]
    assert last.id not in ids
    # The same text under another path gets other ids.
    moved = Document("other.txt", doc.text, doc.format, doc.sha256)
    assert not {c.id for c in chunk_document(moved)} & {c.id for c in first}
