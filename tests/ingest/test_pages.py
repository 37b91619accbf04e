"""A PDF's pages into one text: running headers and footers left out, sentences kept whole over a page break.

The pure functions of :mod:`citeqa.ingest.pages` on page texts, then through a real PDF (``tests/pdfs.py``):
the offsets still map each quote back to its characters on the page."""

from __future__ import annotations

from pathlib import Path

from citeqa.ingest.files import read_document
from citeqa.ingest.pages import body_span, continues, join_pages, page_body, running_lines
from citeqa.ingest.pdf import quote_boxes, read_pdf
from pdfs import pages_pdf

BODY = [
    ["The pump is started by hand.", "Its valve stays shut until the"],
    ["pressure reaches two bar, as the gauge shows.", "Then the valve opens."],
    ["Table 1 lists the parts.", "2019 12 345 678"],
    ["The filter is changed every month.", "Old filters are recycled."],
    ["Chapter 2 ends here.", "The next chapter covers repairs."],
]


def _manual(header: bool = True, footer: bool = True) -> list[list[str]]:
    pages = []
    for i, lines in enumerate(BODY, start=1):
        page = [f"Pump Manual {i} / {len(BODY)}"] if header else []
        pages.append([*page, *lines, *([str(i + 20)] if footer else [])])
    return pages


def _bodies(pages: list[list[str]]) -> list[str]:
    texts = ["\n".join(p) for p in pages]
    top, bottom = running_lines(texts)
    return [t[slice(*body_span(t, top, bottom))] for t in texts]


def test_running_header_and_page_number_are_cut_and_the_text_kept() -> None:
    assert _bodies(_manual()) == ["\n".join(lines) for lines in BODY]
    top, bottom = running_lines(["\n".join(p) for p in _manual()])
    assert top == {"pump manual # / #"} and bottom == {"#"}


def test_a_chapter_header_over_a_few_pages_of_a_long_document_is_cut() -> None:
    pages = [[f"Other part {i}", f"Text of page {i} is plain and different, number {i * 7}."] for i in range(40)]
    for i in range(10, 14):
        pages[i] = ["Chapter 3. Repairs", f"Repair step {i} comes in its own words {'x' * i}."]
    bodies = _bodies(pages)
    assert bodies[11] == f"Repair step 11 comes in its own words {'x' * 11}."
    assert bodies[0] == "Other part 0\nText of page 0 is plain and different, number 0."  # only 3 pages: kept


def test_lines_that_are_not_headers_stay() -> None:
    one_line = [[f"This is page {i}."] for i in range(1, 8)]  # the only line of each page: kept whole
    assert _bodies(one_line) == [f"This is page {i}." for i in range(1, 8)]
    names = ["Ames", "Brook", "Cole", "Dunn", "Eady", "Frey", "Gale", "Hart"]
    figures = [[f"Ledger of {name}.", f"{2000 + i} {i} {i * 3} {i * 5}"] for i, name in enumerate(names)]
    assert _bodies(figures) == ["\n".join(p) for p in figures]  # a row of figures at the foot is data
    short = [["Same first line", f"text {i}"] for i in range(2)]  # two pages: too few to call it running
    assert _bodies(short) == ["Same first line\ntext 0", "Same first line\ntext 1"]


def test_pages_join_by_a_newline_where_the_sentence_goes_on() -> None:
    assert continues("Its valve stays shut until the", "pressure reaches two bar.")
    assert not continues("Then the valve opens.", "the next page")  # a sentence ended
    assert not continues("Its valve stays shut until the", "Pressure")  # the next page starts anew
    assert not continues("", "pressure") and not continues("until the", "")
    text, starts = join_pages(["A b c the", "rest of it.", "New page."])
    assert text == "A b c the\nrest of it.\n\nNew page." and starts == (0, 10, 23)
    assert [page_body(text, starts, p) for p in (1, 2, 3)] == ["A b c the", "rest of it.", "New page."]


def test_a_pdf_reads_without_its_running_lines_and_quotes_map_to_their_boxes(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(pages_pdf(_manual()))
    doc = read_document(path, "manual.pdf")
    assert "Pump Manual" not in doc.text and "\n21\n" not in doc.text
    quote = "Its valve stays shut until the\npressure reaches two bar, as the gauge shows."
    start = doc.text.index(quote)  # one sentence over the page break, in one paragraph
    assert doc.page_at(start) == 1 and doc.page_at(start + len(quote) - 1) == 2
    found = quote_boxes(path, doc, start, start + len(quote))
    assert found is not None and found.page == 1 and len(found.boxes) == 1
    second = doc.text.index("Then the valve opens.")
    found = quote_boxes(path, doc, second, second + len("Then the valve opens."))
    assert found is not None and found.page == 2
    (_, top, _, _), = found.boxes
    assert 0.105 < top < 0.125, "the third line (the header is the first): its baseline 72 + 2 x 16 pt from the top"
    assert read_pdf(pages_pdf(_manual(header=False, footer=False))).text == doc.text
