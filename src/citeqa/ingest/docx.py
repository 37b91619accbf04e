"""Word (.docx) to text through python-docx: paragraphs, headings, list items and tables, in document order.

Each block (paragraph, list item, table) is one paragraph of the text, blocks separated by a blank line, so the
chunker sees the structure it knows from Markdown and HTML: a paragraph styled ``Heading N`` (or ``Title``, or with
an outline level) is a :class:`Heading` located exactly in the text; a list item starts with ``• `` or its number
(``1. ``, ``a) ``), so a lead-in line ending with a colon stays with its list; a table is one line per row, its
cells joined by `` | ``. Headers, footers, footnotes, comments and text boxes are left out.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from citeqa.models import TABLE_CELL_SEP, Heading

MAX_UNZIPPED = 100 * 2**20  # a .docx is a zip: refuse one that would inflate past this (a zip bomb: a 1.6 MB
# file inflating to 480 MB was still being parsed after 300 s at 5 GB; real documents' XML is far smaller)
MAX_RATIO = 200  # nor one whose parts inflate more than this many times over (text XML compresses ~10-20x)
_HEADING = re.compile(r"heading\s*(\d)$", re.IGNORECASE)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class DocxError(Exception):
    """A .docx that cannot be used; the message says why."""


def read_docx(data: bytes) -> tuple[str, tuple[Heading, ...]]:
    """The text of a .docx and its headings in that text, or :class:`DocxError`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            inflated = sum(i.file_size for i in zf.infolist())
            if inflated > MAX_UNZIPPED:
                raise DocxError(f"unpacks to more than {MAX_UNZIPPED // 2**20} MB")
            if inflated > 2**20 and inflated > MAX_RATIO * max(1, len(data)):
                raise DocxError(f"unpacks to {inflated / 2**20:.0f} MB from {len(data) / 2**20:.1f} MB: a zip bomb")
    except zipfile.BadZipFile:
        raise DocxError("is not a readable Word file (not a .docx zip package; old .doc or encrypted?)") from None
    import docx  # lazy: only Word corpora pay for it

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_blocks(document))
    except Exception as err:  # python-docx and lxml raise many kinds of errors on damaged files
        raise DocxError(f"is not a readable Word file ({type(err).__name__}: {err})") from None
    parts: list[str] = []
    headings: list[Heading] = []
    pos = 0
    for text, level in blocks:
        if parts:
            parts.append("\n\n")
            pos += 2
        if level:
            headings.append(Heading(text, pos, pos + len(text), level))
        parts.append(text)
        pos += len(text)
    return "".join(parts), tuple(headings)


def _blocks(document: Any) -> Any:
    """``(text, heading level or 0)`` of each non-empty block, in document order."""
    from docx.table import Table

    numbers, chains = _Numbering(document), _StyleChains()
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            rows = [_row_text(row) for row in item.rows]
            text = "\n".join(r for r in rows if r)
            if text:
                yield text, 0
            continue
        text = _clean(item.text)
        if not text:
            continue
        styles = chains(item)
        level = _heading_level(item, styles)
        if level:
            yield " ".join(text.split()), level
            continue
        marker = numbers.marker(item, styles)
        yield (marker + text if marker else text), 0


def _clean(text: str) -> str:
    return "\n".join(line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip())


def _row_text(row: Any) -> str:
    cells, seen = [], set()
    for cell in row.cells:  # a merged cell comes back once per grid column it spans
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        cells.append(" ".join(cell.text.split()))
    return TABLE_CELL_SEP.join(cells) if any(cells) else ""


class _StyleChains:
    """A paragraph's style and the styles it is based on, looked up once per style id: python-docx's
    ``paragraph.style`` scans every style of the document to find the default one (1.6 ms a paragraph: a
    150 KB .docx of 20,000 paragraphs took 33 s to read)."""

    def __init__(self) -> None:
        self.known: dict[str | None, list[Any]] = {}

    def __call__(self, paragraph: Any) -> list[Any]:
        p_pr = paragraph._p.pPr
        style_id = p_pr.style if p_pr is not None else None
        if style_id not in self.known:
            out, style = [], paragraph.style
            while style is not None and len(out) < 10:
                out.append(style)
                style = style.base_style
            self.known[style_id] = out
        return self.known[style_id]


def _heading_level(paragraph: Any, styles: list[Any]) -> int:
    for style in styles:
        name = style.name or ""
        if m := _HEADING.match(name):
            return max(1, int(m.group(1)))
        if name.lower() == "title":
            return 1
    p_pr = paragraph._p.pPr
    style_id = p_pr.find(f"{_W}pStyle") if p_pr is not None else None
    if style_id is not None and (m := _HEADING.match(style_id.get(f"{_W}val", ""))):  # an id with no styles part
        return max(1, int(m.group(1)))
    for el in [paragraph._p.pPr, *(s.element.pPr for s in styles)]:
        lvl = el.find(f"{_W}outlineLvl") if el is not None else None
        if lvl is not None and (val := lvl.get(f"{_W}val", "")).isdigit() and int(val) < 9:
            return int(val) + 1
    return 0


class _Numbering:
    """List markers: ``• `` for bullets, the running number for numbered lists."""

    def __init__(self, document: Any) -> None:
        self.formats: dict[tuple[str, str], str] = {}
        self.counts: dict[tuple[str, str], int] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract = {a.get(f"{_W}abstractNumId"): a for a in root.iter(f"{_W}abstractNum")}
        for num in root.iter(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            a = abstract.get(ref.get(f"{_W}val")) if ref is not None else None
            for lvl in a.iter(f"{_W}lvl") if a is not None else ():
                fmt = lvl.find(f"{_W}numFmt")
                self.formats[(num.get(f"{_W}numId"), lvl.get(f"{_W}ilvl"))] = (
                    fmt.get(f"{_W}val", "bullet") if fmt is not None else "bullet")

    def marker(self, paragraph: Any, styles: list[Any]) -> str:
        num_id, ilvl = self._num(paragraph, styles)
        names = " ".join((s.name or "").lower() for s in styles)
        if num_id is None:
            if "list number" in names:
                num_id, ilvl, fmt = "style:" + names, "0", "decimal"
            elif "list bullet" in names:
                return "• "
            else:
                return ""
        else:
            fmt = self.formats.get((num_id, ilvl), "bullet")
        if num_id == "0" or fmt in ("bullet", "none"):
            return "• " if num_id != "0" else ""
        key = (num_id, ilvl)
        for k in [k for k in self.counts if k[0] == num_id and k[1] > ilvl]:
            del self.counts[k]  # a shallower item restarts the deeper levels
        n = self.counts[key] = self.counts.get(key, 0) + 1
        if fmt in ("lowerLetter", "upperLetter") and n <= 26:
            letter = chr(ord("a") + n - 1)
            return f"{letter.upper() if fmt == 'upperLetter' else letter}) "
        return f"{n}. "

    @staticmethod
    def _num(paragraph: Any, styles: list[Any]) -> tuple[str | None, str]:
        for el in [paragraph._p.pPr, *(s.element.pPr for s in styles)]:
            num_pr = el.find(f"{_W}numPr") if el is not None else None
            if num_pr is not None:
                num, lvl = num_pr.find(f"{_W}numId"), num_pr.find(f"{_W}ilvl")
                if num is not None:
                    return num.get(f"{_W}val"), lvl.get(f"{_W}val", "0") if lvl is not None else "0"
        return None, "0"
