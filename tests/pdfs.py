"""Small PDFs for tests, built by hand (no PDF writer needed): text layers, several pages, an outline.

``GUIDE_PAGES`` with ``GUIDE_OUTLINE`` is a four-page guide with bookmarks (the last one's title is not on its page).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

GUIDE_PAGES = [
    ["Lighthouse Guide", "A booklet for visitors."],
    ["1 Introduction", "The lighthouse was painted red in 1921.", "It stands on (the) rock of Skerry."],
    ["1.1 Keepers", "Mirela Voss kept the light from 1931 to 1960.", "2 History"],
    ["The tower was built in 1850 by the harbour board.", "Its lamp burned whale oil until 1901."],
]
GUIDE_OUTLINE = [("Introduction", 1, 1), ("Keepers", 2, 2), ("History", 2, 1), ("Lamp and fuel", 3, 2)]


def _string(text: str) -> bytes:
    """A PDF literal string (WinAnsi, i.e. cp1252, bytes)."""
    raw = text.encode("cp1252")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _assemble(objects: Sequence[bytes]) -> bytes:
    """Objects numbered 1..n (object 1 the catalog), with a cross-reference table."""
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return out


def _stream(content: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"


_ADVANCE = 600  # with placed words every glyph is declared this wide (/Widths), so word ends are known exactly


def _placed_words(line: str, y: int) -> bytes:
    """One line whose words are each placed at their own position (a text matrix per word), with no space
    characters between them, as typesetting programs often write text."""
    ops, x = [], 72.0
    for word in line.split():
        ops.append(b"1 0 0 1 %.2f %d Tm " % (x, y) + _string(word) + b" Tj")
        x += _ADVANCE * 12 / 1000 * len(word) + 3.5  # the word's width (the font's /Widths), then a gap
    return b"BT /F1 12 Tf " + b" ".join(ops) + b" ET"


def pages_pdf(pages: Sequence[Sequence[str]], outline: Sequence[tuple[str, int, int]] = (),
              size: tuple[int, int] = (612, 792), placed_words: bool = False, label_from: int | None = None) -> bytes:
    """A PDF with one page per item of ``pages``, each a list of text lines (Helvetica 12 pt, 16 pt apart,
    from the top-left margin), and ``outline`` bookmarks ``(title, 0-based page, level from 1)`` in order.

    With ``placed_words`` each word is drawn at its own position and the text has no space characters:
    an extractor must see the gaps to keep the words apart. With ``label_from`` the pages carry page labels:
    roman numerals before page ``label_from`` (0-based), then 1, 2, … from it."""
    n = len(pages)
    font = 3 + 2 * n  # objects: 1 catalog, 2 pages, then (page, content) pairs, the font, the outline
    objects: list[bytes] = [b"", b""]
    for i, lines in enumerate(pages):
        if placed_words:
            ops = [_placed_words(line, size[1] - 72 - 16 * k) for k, line in enumerate(lines)]
        else:
            ops = [b"BT /F1 12 Tf 16 TL 72 %d Td" % (size[1] - 72)]
            ops += [_string(line) + b" Tj T*" for line in lines]
            ops.append(b"ET")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R"
                       b" /Resources << /Font << /F1 %d 0 R >> >> >>" % (*size, 4 + 2 * i, font))
        objects.append(_stream(b"\n".join(ops)))
    widths = b" /FirstChar 32 /LastChar 255 /Widths [%s]" % b" ".join([b"%d" % _ADVANCE] * 224) if placed_words else b""
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding%s >>" % widths)
    kids = b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n)
    catalog = b"<< /Type /Catalog /Pages 2 0 R"
    if outline:
        root = font + 1
        first = root + 1
        items = [{"num": first + k, "title": t, "page": p, "level": lv, "kids": []} for k, (t, p, lv) in
                 enumerate(outline)]
        stack: list[dict] = []
        top: list[dict] = []
        for it in items:
            while stack and stack[-1]["level"] >= it["level"]:
                stack.pop()
            it["parent"] = stack[-1]["num"] if stack else root
            (stack[-1]["kids"] if stack else top).append(it)
            stack.append(it)
        objects.append(b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count %d >>"
                       % (top[0]["num"], top[-1]["num"], len(items)))
        for siblings in [top, *(it["kids"] for it in items)]:
            for k, it in enumerate(siblings):
                it["prev"] = siblings[k - 1]["num"] if k else None
                it["next"] = siblings[k + 1]["num"] if k + 1 < len(siblings) else None
        for it in items:
            body = b"<< /Title %s /Parent %d 0 R /Dest [%d 0 R /XYZ 0 %d 0]" % (
                _string(it["title"]), it["parent"], 3 + 2 * it["page"], size[1])
            body += b"".join(b" /%s %d 0 R" % (key.capitalize().encode(), it[key])
                             for key in ("prev", "next") if it[key] is not None)
            if it["kids"]:
                body += b" /First %d 0 R /Last %d 0 R /Count %d" % (
                    it["kids"][0]["num"], it["kids"][-1]["num"], len(it["kids"]))
            objects.append(body + b" >>")
        catalog += b" /Outlines %d 0 R /PageMode /UseOutlines" % root
    if label_from is not None:
        catalog += b" /PageLabels << /Nums [0 << /S /r >> %d << /S /D >>] >>" % label_from
    objects[0] = catalog + b" >>"
    return _assemble(objects)


def text_pdf(text: str) -> bytes:
    """A one-page PDF whose text layer is ``text`` (Type1 Helvetica, no compression)."""
    return pages_pdf([[text]])


def blank_pdf() -> bytes:
    """A PDF page with no text layer (what a scanner without OCR makes)."""
    return pages_pdf([[]])


def encrypted_pdf() -> bytes:
    """A one-page PDF that needs a password (pypdf writes the encryption; it is a test dependency only)."""
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.encrypt(user_password="pw", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()
