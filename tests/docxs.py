"""Word files for tests, made with python-docx (no binary fixtures)."""

from __future__ import annotations

import io
import random
import string
import zipfile

import docx


def handbook_docx() -> bytes:
    """A handbook with a title, headings, a paragraph with a line break, bullet and numbered lists after
    lead-in lines, and a table with a merged cell."""
    d = docx.Document()
    d.add_paragraph("Harbour Handbook", style="Title")
    d.add_paragraph("This handbook is for the harbour staff.")
    d.add_heading("Opening hours", level=1)
    d.add_paragraph("The harbour office opens at seven.\nIt closes at noon on Sundays.")
    d.add_paragraph("")  # empty paragraphs are left out
    d.add_heading("Equipment", level=2)
    d.add_paragraph("Every boat must carry:")
    for item in ("a lamp", "two oars", "a life jacket for each person"):
        d.add_paragraph(item, style="List Bullet")
    d.add_paragraph("To launch a boat:")
    for step in ("untie the ropes", "push off"):
        d.add_paragraph(step, style="List Number")
    d.add_heading("Fees", level=2)
    table = d.add_table(rows=3, cols=3)
    for r, row in enumerate([("Boat", "Day", "Week"), ("Dinghy", "5", "25"), ("Yacht", "20", "")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2))
    table.cell(2, 1).text = "on request"
    d.add_paragraph("Fees are paid at the office.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def empty_docx() -> bytes:
    """A .docx with no text."""
    buf = io.BytesIO()
    docx.Document().save(buf)
    return buf.getvalue()


def slow_docx(inflated_mb: float = 20, seed: int = 0) -> bytes:
    """A plain .docx of ``inflated_mb`` MB of paragraphs of made-up words, under every size cap (it compresses
    about 3x, far from the zip-bomb ratio): honest work that takes seconds to read (20 MB: 8 s on a 2-core Xeon)."""
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    paras, size = [], 0
    while size < inflated_mb * 2**20:
        paras.append(f"<w:p><w:r><w:t>{' '.join(rng.choices(words, k=12))}.</w:t></w:r></w:p>")
        size += len(paras[-1])
    base = io.BytesIO()
    docx.Document().save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                head, body, tail = data.decode().partition("<w:body>")
                data = (head + body + "".join(paras) + tail[tail.index("<w:sectPr"):]).encode()
            dst.writestr(item, data)
    return out.getvalue()
