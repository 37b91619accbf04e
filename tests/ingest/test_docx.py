"""Tests for citeqa.ingest.docx: Word files made here with python-docx (no binary fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from citeqa.errors import InputError
from citeqa.ingest import docx as docx_reader
from citeqa.ingest.chunking import chunk_document
from citeqa.ingest.files import load_corpus, read_document
from docxs import empty_docx, handbook_docx


@pytest.fixture()
def handbook(tmp_path: Path) -> Path:
    path = tmp_path / "handbook.docx"
    path.write_bytes(handbook_docx())
    return path


def test_text_blocks_lists_and_tables(handbook: Path) -> None:
    doc = read_document(handbook, "handbook.docx")
    assert doc.format == "docx" and doc.pages == ()
    assert doc.text.split("\n\n") == [
        "Harbour Handbook",
        "This handbook is for the harbour staff.",
        "Opening hours",
        "The harbour office opens at seven.\nIt closes at noon on Sundays.",
        "Equipment",
        "Every boat must carry:",
        "• a lamp",
        "• two oars",
        "• a life jacket for each person",
        "To launch a boat:",
        "1. untie the ropes",
        "2. push off",
        "Fees",
        "Boat | Day | Week\nDinghy | 5 | 25\nYacht | on request",
        "Fees are paid at the office.",
    ]


def test_heading_styles_become_sections(handbook: Path) -> None:
    doc = read_document(handbook, "handbook.docx")
    assert [(h.title, h.level) for h in doc.headings] == [
        ("Harbour Handbook", 1), ("Opening hours", 1), ("Equipment", 2), ("Fees", 2)]
    for h in doc.headings:
        assert doc.text[h.start : h.end] == h.title
    chunks = chunk_document(doc, chunk_chars=300)
    sections = {c.section: c.text for c in chunks}
    assert sections["Opening hours"].startswith("The harbour office opens at seven.")
    assert "Yacht | on request" in sections["Fees"]
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text


def test_list_items_keep_their_lead_in(handbook: Path) -> None:
    doc = read_document(handbook, "handbook.docx")
    (chunk,) = [c for c in chunk_document(doc, chunk_chars=300) if c.section == "Equipment"]
    sentences = [chunk.sentence(i) for i in range(len(chunk.sentences))]
    item = sentences.index("two oars")
    assert chunk.sentence(chunk.lead_in(item)) == "Every boat must carry:"
    assert chunk.sentence_embed_text(item) == "Equipment — Every boat must carry: — two oars"
    step = sentences.index("push off")
    assert chunk.sentence(chunk.lead_in(step)) == "To launch a boat:"


def test_damaged_old_and_oversized_word_files_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.docx").write_bytes(handbook_docx())
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))  # an OLE (.doc) file
    (tmp_path / "cut.docx").write_bytes(handbook_docx()[:3000])
    (tmp_path / "empty.docx").write_bytes(empty_docx())
    docs, skipped = load_corpus(tmp_path)
    assert [d.path for d in docs] == ["ok.docx"]
    reasons = {s.path: s.reason for s in skipped}
    assert reasons["old.docx"].startswith("is not a readable Word file (not a .docx zip package")
    assert reasons["cut.docx"].startswith("is not a readable Word file")
    assert reasons["empty.docx"] == "is empty"
    monkeypatch.setattr(docx_reader, "MAX_UNZIPPED", 1000)
    with pytest.raises(InputError, match="unpacks to more than"):
        read_document(tmp_path / "ok.docx", "ok.docx")
