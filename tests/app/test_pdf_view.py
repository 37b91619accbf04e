"""The app with PDFs and Word files, without a browser: the page image with the quote marked, page labels,
and uploading a .docx."""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from citeqa.app import answer_view, pageview, render, ui
from citeqa.config import Settings
from citeqa.models import Answer
from citeqa.qa import QA
from docxs import handbook_docx
from pdfs import GUIDE_OUTLINE, GUIDE_PAGES, pages_pdf

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
KEEPER_Q = "Who kept the light from 1931 to 1960?"


@pytest.fixture()
def qa(tmp_path: Path) -> QA:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "guide.pdf").write_bytes(pages_pdf(GUIDE_PAGES, GUIDE_OUTLINE))
    (corpus / "notes.txt").write_text("The ferry leaves the harbour at nine.\n", encoding="utf-8")
    got = QA(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash"))
    got.build()
    return got


@pytest.fixture()
def answer(qa: QA) -> Answer:
    got = qa.ask(KEEPER_Q, min_confidence=0.0)
    assert got.citations[0].doc == "guide.pdf" and got.citations[0].page == 3
    return got


def png_of(fragment: str) -> Image.Image:
    m = re.search(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', fragment)
    assert m, fragment[:300]
    return Image.open(io.BytesIO(base64.b64decode(m.group(1)))).convert("RGB")


def yellow(img: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """Pixels of the highlight's yellow (text is black on white, so nothing else is yellow)."""
    px = np.asarray(img.crop(box) if box else img, dtype=np.int16)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return int(((r > 200) & (g > 180) & (r - b > 60)).sum())


def test_open_in_document_shows_the_page_with_the_quote_marked(qa: QA, answer: Answer) -> None:
    out, tabs = ui.ChatApp(qa).open_document(answer, gr.EventData(None, {"cite": 1, "rank": 0}))
    assert tabs.selected == "document"
    assert 'class="cq-split"' in out and 'data-page="3"' in out and 'data-marked="1"' in out
    cite = answer.citations[0]
    assert f"p. 3, characters {cite.start}–{cite.end} highlighted" in html.unescape(out)
    assert html.unescape(re.search(r'<mark class="cq-target" id="cq-target">(.*?)</mark>', out, re.S).group(1)) \
        == cite.quote, "the text view beside the page marks the same quote"
    img = png_of(out)
    assert img.size == (918, 1188), "US letter at 1.5x"
    line = (0, int((72 + 16 - 14) * 1.5), img.width, int((72 + 16 + 6) * 1.5))  # the page's second line
    assert yellow(img, line) > 500 and yellow(img) - yellow(img, line) < 50, "only the quote's line is marked"


def test_open_a_pdf_passage_marks_the_whole_passage(qa: QA, answer: Answer) -> None:
    rank = next(p.rank for p in answer.passages if p.chunk.doc == "guide.pdf")
    out, _ = ui.ChatApp(qa).open_document(answer, gr.EventData(None, {"cite": 0, "rank": rank}))
    assert "cq-page" in out and yellow(png_of(out)) > 500


def test_a_text_document_has_no_page_image(qa: QA) -> None:
    got = qa.ask("When does the ferry leave the harbour?", min_confidence=0.0)
    rank = next(p.rank for p in got.passages if p.chunk.doc == "notes.txt")
    out, _ = ui.ChatApp(qa).open_document(got, gr.EventData(None, {"cite": 0, "rank": rank}))
    assert "cq-page" not in out and "<img" not in out and "line 1" in out


def test_page_labels_in_answer_evidence_and_passages(answer: Answer, qa: QA) -> None:
    assert "guide.pdf — 1.1 Keepers — p. 3" in html.unescape(answer_view.answer_html(answer))
    evidence = html.unescape(render.evidence_html(answer, {"guide.pdf": qa.document("guide.pdf").text}))
    assert "p. 3, characters" in evidence and "lines " not in evidence
    assert "— p. 3" in html.unescape(render.passages_html(answer))


def test_a_changed_or_missing_pdf_is_said_so(qa: QA, answer: Answer) -> None:
    doc = qa.document("guide.pdf")
    path = qa.settings.corpus_dir / "guide.pdf"
    cite = answer.citations[0]
    changed = [list(p) for p in GUIDE_PAGES]
    changed[2][1] = "Somebody else kept the light from 1931 to 1960."
    path.write_bytes(pages_pdf(changed, GUIDE_OUTLINE))
    out = pageview.page_figure(path, doc, cite.start, cite.end)
    assert "the file changed since it was indexed" in html.unescape(out) and yellow(png_of(out)) == 0
    path.unlink()
    out = pageview.page_figure(path, doc, cite.start, cite.end)
    assert "page 3 cannot be shown" in html.unescape(out) and "<img" not in out


def test_render_page_highlight_paints_only_the_boxes(tmp_path: Path) -> None:
    path = tmp_path / "p.pdf"
    path.write_bytes(pages_pdf(GUIDE_PAGES))
    plain = Image.open(io.BytesIO(pageview.render_page_highlight(path, 1))).convert("RGB")
    assert yellow(plain) == 0
    marked = Image.open(io.BytesIO(pageview.render_page_highlight(path, 1, [(0.5, 0.5, 0.6, 0.55)]))).convert("RGB")
    w, h = marked.size
    assert yellow(marked, (int(0.5 * w) + 2, int(0.5 * h) + 2, int(0.6 * w) - 2, int(0.55 * h) - 2)) > 0.9 * (
        (0.1 * w - 4) * (0.05 * h - 4))
    with pytest.raises(pageview.PdfError, match="has no page 9"):
        pageview.render_page_highlight(path, 9)


def test_upload_a_word_file(qa: QA, tmp_path: Path) -> None:
    assert ".docx" in ui.UPLOAD_TYPES
    src = tmp_path / "up" / "Handbook.DOCX"
    src.parent.mkdir()
    src.write_bytes(handbook_docx())
    app = ui.ChatApp(qa)
    app.upload_dir = src.parent  # as if Gradio had received it
    _, status, _ = app.upload([str(src)], lambda *a, **k: None)
    assert "Added Handbook.docx" in html.unescape(status) and "Index updated" in status
    doc = qa.document("Handbook.docx")
    assert doc is not None and doc.format == "docx"
    got = qa.ask("What must every boat carry?", min_confidence=0.0)
    assert got.citations[0].doc == "Handbook.docx" and got.citations[0].section == "Equipment"


def test_a_pdf_whose_name_is_not_utf8_still_shows_its_page(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / os.fsdecode(b"gu\xefde.pdf")).write_bytes(pages_pdf(GUIDE_PAGES, GUIDE_OUTLINE))
    qa = QA(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash"))
    qa.build()
    got = qa.ask(KEEPER_Q, min_confidence=0.0)
    assert got.citations[0].doc == "gu\\xefde.pdf" and got.citations[0].page == 3
    out, _ = ui.ChatApp(qa).open_document(got, gr.EventData(None, {"cite": 1}))
    assert 'data-marked="1"' in out and yellow(png_of(out)) > 500, "the escaped name leads back to the file"


def test_page_labels_and_the_first_box_position(tmp_path: Path) -> None:
    from citeqa.ingest.files import read_document
    from citeqa.ingest.pdf import page_label

    path = tmp_path / "labelled.pdf"
    lines = [f"Line {i} of the page." for i in range(30)] + ["The keeper rings the bell at dusk."]
    path.write_bytes(pages_pdf([["Preface page."], ["Contents page."], lines], label_from=2))
    assert page_label(path, 1) == "i" and page_label(path, 3) == "1"
    doc = read_document(path, "labelled.pdf")
    start = doc.text.index("The keeper rings")
    out = pageview.page_figure(path, doc, start, start + 33)
    assert "p. 1 (PDF page 3)" in out and 'class="cq-zoom"' in out
    top = float(re.search(r'data-top="([0-9.]+)"', out).group(1))
    assert 0.5 < top < 0.95  # the quote's box is low on the page: the view scrolls there


def test_a_page_number_before_a_numbered_heading_is_not_part_of_the_section() -> None:
    from citeqa.ingest.pdf import locate_headings

    text = "17 4 Authentication\nSome text.\n\n18 4.1 Passwords\nMore."
    heads = locate_headings(text, (0, text.index("18 4.1")), [("Authentication", 0, 1), ("Passwords", 1, 2)])
    assert [h.title for h in heads] == ["4 Authentication", "4.1 Passwords"]
    assert all(text[h.start : h.end] == h.title for h in heads)
