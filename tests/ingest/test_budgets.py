"""Small files that would cost gigabytes are refused or scaled down, each with a message naming the problem."""

from __future__ import annotations

import io
import resource
import zipfile
from pathlib import Path

import pytest

from citeqa.app import pageview
from citeqa.ingest import docx as docx_reader
from citeqa.ingest import pdf as pdf_reader
from citeqa.ingest.docx import DocxError, read_docx
from citeqa.ingest.pdf import PdfError, read_pdf
from docxs import handbook_docx
from pdfs import pages_pdf


def test_a_200_inch_page_renders_small(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    path.write_bytes(pages_pdf([["A very large page."]], size=(14_400, 14_400)))  # 200 x 200 inches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    png = pageview.render_page_highlight(path, 1, [(0.1, 0.1, 0.2, 0.2)])
    from PIL import Image

    w, h = Image.open(io.BytesIO(png)).size
    assert w * h <= pageview.MAX_RENDER_PIXELS * 1.01
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500  # at full scale this page is 21,600 x 21,600 pixels: ~1.9 GB of RGBA


def test_a_pdf_of_one_page_repeated_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [["The same page again and again."]] * 120 + [["One other page."]]
    with pytest.raises(PdfError, match="repeats its pages"):
        read_pdf(pages_pdf(pages))
    assert "page 3" in read_pdf(pages_pdf([[f"This is page {i}."] for i in range(1, 130)])).text
    monkeypatch.setattr(pdf_reader, "MAX_PAGES", 50)
    with pytest.raises(PdfError, match="121 pages; the limit is 50"):
        read_pdf(pages_pdf(pages))


def test_a_docx_zip_bomb_is_refused_by_its_ratio() -> None:
    good = handbook_docx()
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            out.writestr(item, src.read(item.filename))
        out.writestr("word/media/padding.xml", b"<x>" + b" " * (40 * 2**20) + b"</x>")  # 40 MB of spaces
    bomb = buf.getvalue()
    assert len(bomb) < 2**20
    with pytest.raises(DocxError, match="zip bomb"):
        read_docx(bomb)
    assert read_docx(good)[0]  # a real document still reads
    assert docx_reader.MAX_UNZIPPED == 100 * 2**20


def test_heading_style_ids_count_without_a_styles_part() -> None:
    """Some generators write ``<w:pStyle w:val="Heading1"/>`` and no styles part: the id alone marks a heading."""
    import re

    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(handbook_docx())) as src, zipfile.ZipFile(buf, "w") as out:
        for item in src.infolist():
            if item.filename == "word/styles.xml":
                continue
            data = src.read(item.filename)
            if item.filename == "word/_rels/document.xml.rels":
                data = re.sub(rb"<Relationship [^>]*styles\.xml\"/>", b"", data)
            if item.filename == "[Content_Types].xml":
                data = re.sub(rb"<Override [^>]*styles\.xml\"[^>]*/>", b"", data)
            out.writestr(item, data)
    text, headings = read_docx(buf.getvalue())
    assert "Opening hours" in text
    assert ("Opening hours", 1) in [(h.title, h.level) for h in headings]
