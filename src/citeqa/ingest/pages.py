"""A PDF's pages into one text, as a reader would read them: running headers and footers left out, and a
sentence that runs over a page break kept in one paragraph.

Pure functions on the pages' texts (no PDF library): :func:`running_lines` finds the lines that recur at the
top or the bottom of pages (``Debian Reference 7 / 233``, a lone page number, a chapter title over each of
its pages), :func:`body_span` the part of one page left once they are cut off, and :func:`join_pages` joins
the bodies: by a blank line, or by one newline where the page ends inside a sentence and the next goes on in
lower case. A page's body is a slice of its text, so offsets still map back to the PDF's characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PAGE_SEP = "\n\n"
CONTINUED_SEP = "\n"  # between pages whose sentence goes on
EDGE_LINES = 2  # lines looked at as a running header at the top of a page, and as a footer at its bottom
MIN_PAGES = 3  # a line must recur on this many pages
MIN_SHARE = 0.2  # ... and on this share of all pages, or three times within NEAR pages (a chapter's header)
NEAR = 6
MAX_LEN = 120  # longer lines are text, not a header
_NUMBERS = re.compile(r"\d+")
_ROMAN_EDGE = re.compile(r"^[ivxlcdm]{1,7}\b|\b[ivxlcdm]{1,7}$")  # front-matter page numbers
_LINE = re.compile(r"[^\n]+")
_ENDS_SENTENCE = tuple(".!?:;)]}\"'”’»")


def _key(line: str) -> str:
    """A line with its numbers (the page number, which changes) masked."""
    return _ROMAN_EDGE.sub("#", _NUMBERS.sub("#", " ".join(line.split()).lower()))


def _edges(text: str) -> tuple[list[re.Match[str]], list[re.Match[str]]]:
    lines = [m for m in _LINE.finditer(text) if m.group().strip()]
    return lines[:EDGE_LINES], lines[::-1][:EDGE_LINES]


def running_lines(pages: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    """The keys of the lines that run at the top of pages, and of those at the bottom."""
    found: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
    for i, text in enumerate(pages):
        for zone, lines in zip(found, _edges(text), strict=True):
            for key in {_key(m.group()) for m in lines if len(m.group().strip()) <= MAX_LEN}:
                if re.search(r"[^\W\d_]", key) or key.count("#") <= 2:  # not a row of figures ("2019 12 345")
                    zone.setdefault(key, []).append(i)

    def runs(where: list[int]) -> bool:
        if len(where) < MIN_PAGES:
            return False
        near = any(where[j + MIN_PAGES - 1] - where[j] < NEAR for j in range(len(where) - MIN_PAGES + 1))
        return near or len(where) >= MIN_SHARE * len(pages)

    top, bottom = ({k for k, where in zone.items() if runs(where)} for zone in found)
    return frozenset(top), frozenset(bottom)


def body_span(text: str, top: frozenset[str], bottom: frozenset[str]) -> tuple[int, int]:
    """``(start, end)`` of ``text`` once its running lines are cut off (and the space around what is left); a
    page that holds nothing else keeps them."""
    first, last = _edges(text)
    lo, hi = 0, len(text)
    for m in first:
        if _key(m.group()) not in top:
            break
        lo = m.end()
    for m in last:
        if m.start() < lo or _key(m.group()) not in bottom:
            break
        hi = m.start()
    body = text[lo:hi]
    if not body.strip():  # nothing but the running lines: a page of one line ("This is page 3."), kept whole
        lo, body = 0, text
    start = lo + len(body) - len(body.lstrip())
    return start, max(start, lo + len(body.rstrip()))


def continues(before: str, after: str) -> bool:
    """Whether a page ending in ``before`` goes on into one starting with ``after`` mid-sentence."""
    end, start = before.rstrip(), after.lstrip()
    return bool(end) and bool(start) and not end.endswith(_ENDS_SENTENCE) and start[0].islower()


def join_pages(bodies: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """The pages' bodies as one text, and where each starts in it."""
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    for i, body in enumerate(bodies):
        if i:
            sep = CONTINUED_SEP if continues(bodies[i - 1], body) else PAGE_SEP
            parts.append(sep)
            pos += len(sep)
        starts.append(pos)
        parts.append(body)
        pos += len(body)
    return "".join(parts), tuple(starts)


def page_body(text: str, pages: Sequence[int], page: int) -> str:
    """The body of 1-based ``page`` in a document ``text`` whose pages start at ``pages``."""
    end = pages[page] if page < len(pages) else len(text)
    return text[pages[page - 1] : end].rstrip("\n")
