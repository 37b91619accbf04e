"""PDF through PDFium (pypdfium2): each page's text, where each page starts, sections from the outline, and the
boxes of a quote's characters on its page.

A page's text is PDFium's character list in order, with two changes: the ``\\r\\n`` PDFium generates at line ends
becomes ``\\n``, and the hyphen it marks as hyphenation at a line end is dropped (``di-`` / ``rectly`` reads
``directly``). PDFium also generates the spaces between words that a PDF positions apart without a space
character, which is what keeps words apart where other extractors glue them. Running headers and footers are
left out and the pages joined by a blank line, or by a newline where a sentence runs on (:mod:`citeqa.ingest.pages`).
:func:`page_text` returns, with the text, the PDFium character index of each text position, so a span of the
document maps back to character boxes on the page (:func:`quote_boxes`).

PDFium is not thread-safe: every use goes through :data:`PDFIUM_LOCK` (the app's page renderer takes it too).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citeqa.ingest.pages import body_span, join_pages, page_body, running_lines
from citeqa.models import Document, Heading

READER = "pdfium-2"  # recorded in the manifest: an index whose PDFs another reader extracted re-reads them
MAX_PAGES = 10_000  # a longer PDF is refused (a 1.2 MB file listing one page 200,000 times made 10,545 passages)
MAX_REPEATED_SHARE = 0.5  # of 100 or more pages: when more are exact copies of another page, the file is refused
PDFIUM_LOCK = threading.RLock()
_DROP = re.compile("\r(?=\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # 2 / U+FFFE: a line-end hyphenation mark
# What may stand before a title on its line: "Chapter 3", "1.1.4", "A.2", "IV."
_NUMBER = (r"(?:(?i:chapter|section|part|appendix)\s+)?"
           r"(?:(?:\d{1,3}(?:\.\d{1,3})*\.?|[A-Z](?:\.\d{1,3})*\.?|[IVXLC]{1,6}\.)\s+)?")


class PdfError(Exception):
    """A PDF that cannot be used; the message says why (``is encrypted …``, ``is not a readable PDF …``)."""


@dataclass(frozen=True)
class PdfText:
    """A PDF's text, the start offset of each page in it, and its outline as headings in that text."""

    text: str
    pages: tuple[int, ...]
    headings: tuple[Heading, ...]


@dataclass(frozen=True)
class PageBoxes:
    """A quote's highlight on one page: rectangles as fractions of the page as displayed
    (``(left, top, right, bottom)``, 0..1 from the top-left corner); ``page`` is 1-based."""

    page: int
    boxes: tuple[tuple[float, float, float, float], ...]


def _pdfium() -> Any:
    import pypdfium2  # lazy: only PDF corpora pay for it

    return pypdfium2


@contextmanager
def open_pdf(source: bytes | Path) -> Iterator[Any]:
    """A ``pypdfium2.PdfDocument`` (under :data:`PDFIUM_LOCK`), or :class:`PdfError`."""
    pdfium = _pdfium()
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(source)
        except pdfium.PdfiumError as err:
            if getattr(err, "err_code", None) == 4:  # FPDF_ERR_PASSWORD
                raise PdfError("is encrypted (password protected)") from None
            raise PdfError(f"is not a readable PDF ({err})") from None
        try:
            yield pdf
        finally:
            pdf.close()


def page_text(textpage: Any) -> tuple[str, list[int]]:
    """The text of one page and, for each of its characters, the PDFium character index it came from."""
    n = textpage.count_chars()
    raw_text = textpage.get_text_range() if n > 0 else ""
    if len(raw_text) == n:
        index = list(range(n))
    else:  # characters outside UTF-16's basic plane, or excluded ones: read them one by one
        raw_text, index = _chars_one_by_one(textpage, n)
    pieces: list[str] = []
    keep: list[int] = []
    pos = 0
    for m in _DROP.finditer(raw_text):
        pieces.append(raw_text[pos : m.start()])
        keep.extend(index[pos : m.start()])
        pos = m.end()
    pieces.append(raw_text[pos:])
    keep.extend(index[pos:])
    return "".join(pieces).replace("\r", "\n"), keep


def _chars_one_by_one(textpage: Any, n: int) -> tuple[str, list[int]]:
    import pypdfium2.raw as raw

    chars: list[str] = []
    index: list[int] = []
    j = 0
    while j < n:
        u = raw.FPDFText_GetUnicode(textpage, j)
        if 0xD800 <= u < 0xDC00 and j + 1 < n and 0xDC00 <= (low := raw.FPDFText_GetUnicode(textpage, j + 1)) < 0xE000:
            chars.append(chr(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)))
            index.append(j)
            j += 2
            continue
        chars.append("\ufffd" if 0xD800 <= u < 0xE000 or u > 0x10FFFF else chr(u))
        index.append(j)
        j += 1
    return "".join(chars), index


def read_pdf(data: bytes) -> PdfText:
    """Text, page starts and outline headings of a PDF, or :class:`PdfError` (damaged, encrypted, no text)."""
    with open_pdf(data) as pdf:
        if len(pdf) > MAX_PAGES:
            raise PdfError(f"has {len(pdf):,} pages; the limit is {MAX_PAGES:,}")
        try:
            texts = []
            for i in range(len(pdf)):
                page = pdf[i]
                textpage = page.get_textpage()
                texts.append(page_text(textpage)[0])
                textpage.close()
                page.close()
            outline = _outline(pdf, len(texts))
        except _pdfium().PdfiumError as err:
            raise PdfError(f"is not a readable PDF ({err})") from None
    if not any(t.strip() for t in texts):
        raise PdfError("has no text layer (scanned PDF?)")
    repeated = len(texts) - len({t for t in texts if t.strip()}) - sum(1 for t in texts if not t.strip())
    if len(texts) >= 100 and repeated > MAX_REPEATED_SHARE * len(texts):
        raise PdfError(f"repeats its pages: {repeated:,} of {len(texts):,} pages copy another page")
    top, bottom = running_lines(texts)
    text, starts = join_pages([t[slice(*body_span(t, top, bottom))] for t in texts])
    return PdfText(text, starts, locate_headings(text, starts, outline))


def _outline(pdf: Any, n_pages: int) -> list[tuple[str, int, int]]:
    """``(title, 0-based page, level)`` of each bookmark that leads to a page."""
    import pypdfium2.raw as raw

    out = []
    for mark in pdf.get_toc():
        dest = mark.get_dest()
        index = dest.get_index() if dest is not None else None
        if index is None:  # a bookmark may go through a GoTo action instead of a destination
            action = raw.FPDFBookmark_GetAction(mark)
            raw_dest = raw.FPDFAction_GetDest(pdf, action) if action else None
            index = raw.FPDFDest_GetDestPageIndex(pdf, raw_dest) if raw_dest else -1
        title = " ".join((mark.get_title() or "").split())
        if title and index is not None and 0 <= index < n_pages:
            out.append((title, index, mark.level + 1))
    return out


def locate_headings(text: str, pages: tuple[int, ...], outline: list[tuple[str, int, int]]) -> tuple[Heading, ...]:
    """Outline entries as headings in ``text``: the line on the entry's page that holds the title (with any
    number before it, ``1.1.4 The root shell prompt``), else the title's first occurrence on that page, else
    an empty heading at the page's start. Headings keep document order and never overlap."""
    out: list[Heading] = []
    pos = 0
    for title, index, level in outline:
        lo = pages[index]
        hi = pages[index + 1] if index + 1 < len(pages) else len(text)
        if hi <= pos:
            continue  # an entry pointing back before the last heading
        lo = max(lo, pos)
        words = "(?i:" + r"\s+".join(re.escape(w) for w in title.split()) + ")"
        # a page number may stand before the heading's own number ("17 4 Title" in a running header): left out
        line = re.compile(rf"^[ \t]*(?:\d{{1,4}}[ \t]+(?=\d))?({_NUMBER}{words})[ \t]*$", re.MULTILINE)
        m = line.search(text, lo, hi) or re.compile(words).search(text, lo, hi)
        if m is None:
            out.append(Heading(title, lo, lo, level))
        else:
            a, b = m.span(m.lastindex or 0)
            out.append(Heading(text[a:b], a, b, level))
            pos = b
    return tuple(out)


def page_label(source: bytes | Path, page: int) -> str | None:
    """The label the PDF gives its ``page`` (1-based), such as ``"17"`` or ``"iv"``, when it differs from the
    page's position; ``None`` otherwise or when the PDF has no labels."""
    try:
        with open_pdf(source) as pdf:
            label = pdf.get_page_label(page - 1) if 1 <= page <= len(pdf) else ""
    except Exception:
        return None
    return label if label and label != str(page) else None


def quote_boxes(source: bytes | Path, doc: Document, start: int, end: int) -> PageBoxes | None:
    """Where ``doc.text[start:end]`` stands on its first page, read again from the PDF ``source``.

    None when ``doc`` has no pages, or when the page's text no longer matches the indexed text (the file
    changed since it was indexed: its boxes would mark other words).
    """
    page_no = doc.page_at(start)
    if page_no is None:
        return None
    a = doc.pages[page_no - 1]
    with open_pdf(source) as pdf:
        if page_no > len(pdf):
            return None
        page = pdf[page_no - 1]
        textpage = page.get_textpage()
        text, keep = page_text(textpage)
        body = page_body(doc.text, doc.pages, page_no)
        skip = text.find(body)  # the page less its running header and footer
        if skip < 0:
            return None
        lo, hi = skip + max(0, start - a), skip + min(len(body), end - a)
        boxes = [_device_box(page, textpage, keep[k]) for k in range(lo, hi) if not text[k].isspace()]
        textpage.close()
        page.close()
    return PageBoxes(page_no, tuple(merge_boxes([b for b in boxes if b is not None])))


_SIZE = 100_000  # device size that page coordinates are mapped into (then divided: fractions of the page)


def _device_box(page: Any, textpage: Any, char: int) -> tuple[float, float, float, float] | None:
    import ctypes

    import pypdfium2.raw as raw

    try:
        left, bottom, right, top = textpage.get_charbox(char, loose=True)
    except _pdfium().PdfiumError:
        return None
    xs, ys = [], []
    for px, py in ((left, top), (right, bottom)):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(page, 0, 0, _SIZE, _SIZE, 0, px, py, dx, dy)
        xs.append(dx.value / _SIZE)
        ys.append(dy.value / _SIZE)
    box = (min(xs), min(ys), max(xs), max(ys))
    return box if box[2] > box[0] and box[3] > box[1] else None


def merge_boxes(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    """Character boxes in reading order merged into one rectangle per line run."""
    out: list[tuple[float, float, float, float]] = []
    for b in boxes:
        if out:
            p = out[-1]
            overlap = min(p[3], b[3]) - max(p[1], b[1])
            if overlap > 0.5 * min(p[3] - p[1], b[3] - b[1]) and b[0] >= p[0] - 1e-3:
                out[-1] = (p[0], min(p[1], b[1]), max(p[2], b[2]), max(p[3], b[3]))
                continue
        out.append(b)
    return out
