"""Pure text functions: paragraph and sentence spans, list bullets.

Every span returned indexes the original string.
"""

from __future__ import annotations

import re

from citeqa.models import Span

# Abbreviations after which a period does not end a sentence (compared lower-cased).
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt ft no nos vol vols fig figs al etc vs cf ca approx
    dept univ inc ltd co corp gov gen col lt sgt capt rev hon est jan feb mar apr jun jul
    aug sep sept oct nov dec mon tue wed thu fri sat sun e.g i.e a.m p.m u.s u.k u.n
    ph.d b.a m.a op pp ed eds""".split()
)
BULLET_RE = re.compile(r"[ \t\u00a0]*(?:[•·▪‣◦●○■□–—*+-]|\d{1,3}[.)]|\(\d{1,3}\)|\(?[a-z]\))[ \t\u00a0]+")
_TERMINAL = re.compile(r"[.!?…]+[\"'”’»)\]]*")
_SPACE = " \t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u3000"
_PARA_SPLIT = re.compile(r"\n[ \t\u00a0\r]*\n|\r\n[ \t\u00a0]*\r\n")


def is_space(ch: str) -> bool:
    return ch.isspace() or ch in _SPACE


def paragraphs(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of blank-line separated blocks in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    out: list[Span] = []
    pos = start
    for m in _PARA_SPLIT.finditer(text, start, end):
        _add_trimmed(text, pos, m.start(), out)
        pos = m.end()
    _add_trimmed(text, pos, end, out)
    return out


def _add_trimmed(text: str, a: int, b: int, out: list[Span]) -> None:
    while a < b and is_space(text[a]):
        a += 1
    while b > a and is_space(text[b - 1]):
        b -= 1
    if a < b:
        out.append(Span(a, b))


def _lines(text: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        stop = end if nl < 0 else nl
        _add_trimmed(text, pos, stop, spans)
        pos = stop + 1
    return spans


def bullet_end(text: str, span: Span) -> int:
    """Offset just past a leading bullet marker of the line at ``span`` (or its start)."""
    m = BULLET_RE.match(text, span.start, span.end)
    return m.end() if m and m.end() < span.end else span.start


def is_bullet(text: str, span: Span) -> bool:
    return bullet_end(text, span) > span.start


def split_sentences(text: str, start: int = 0, end: int | None = None, max_len: int = 1000) -> list[Span]:
    """Sentence spans of ``text[start:end]`` (trimmed, bullet markers excluded).

    A blank line always ends a sentence; a single newline ends one when the next
    line is a bullet, or the line ends in terminal punctuation or a colon, or is
    short (a title). Inside a line, ``. ! ?`` end a sentence before whitespace and
    an upper-case letter, digit or quote, unless the word before is a known
    abbreviation or a single initial. Sentences longer than ``max_len`` are cut
    at whitespace.
    """
    end = len(text) if end is None else end
    out: list[Span] = []
    for para in paragraphs(text, start, end):
        for block in _line_blocks(text, para):
            for sent in _split_block(text, block):
                out.extend(_cut_long(text, sent, max_len))
    return out


def _line_blocks(text: str, para: Span) -> list[Span]:
    """Group a paragraph's lines into blocks that may hold several sentences."""
    lines = _lines(text, para.start, para.end)
    blocks: list[Span] = []
    cur: Span | None = None
    for ln in lines:
        b = bullet_end(text, ln)
        ln_body = Span(b, ln.end)
        if cur is None:
            cur = ln_body
            continue
        prev_last = text[cur.end - 1]
        breaks = (
            b > ln.start
            or prev_last in ".!?:;…”\""
            or (ln.start - cur.start < 60 and cur.end - cur.start < 60 and "\n" not in text[cur.start:cur.end])
        )
        if breaks:
            blocks.append(cur)
            cur = ln_body
        else:
            cur = Span(cur.start, ln.end)
    if cur is not None:
        blocks.append(cur)
    return blocks


def _split_block(text: str, block: Span) -> list[Span]:
    out: list[Span] = []
    pos = block.start
    for m in _TERMINAL.finditer(text, block.start, block.end):
        stop = m.end()
        if stop >= block.end:
            break
        nxt = stop
        while nxt < block.end and is_space(text[nxt]):
            nxt += 1
        if nxt == stop or nxt >= block.end:
            continue
        c = text[nxt]
        if not (c.isupper() or c.isdigit() or c in "\"'“‘(«[•"):
            continue
        if text[m.start()] == "." and _is_abbreviation(text, pos, m.start(), c):
            continue
        _add_trimmed(text, pos, stop, out)
        pos = nxt
    _add_trimmed(text, pos, block.end, out)
    return out


# Abbreviations that are also everyday words ("the cat sat.", "the answer is no."):
# abbreviations only before a digit ("No. 5", "Fig. 3") or, for names, when capitalised ("Sat.").
_DIGIT_ONLY = frozenset({"no", "nos"})
_CAPITALISED_ONLY = frozenset({"sat", "sun", "wed", "mar", "fig", "figs"})


def _is_abbreviation(text: str, sent_start: int, dot: int, following: str = "A") -> bool:
    i = dot
    while i > sent_start and not is_space(text[i - 1]) and text[i - 1] not in "(\"“‘":
        i -= 1
    raw = text[i:dot]
    word = raw.lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():
        return True  # an initial: "J. Smith"
    if word in _DIGIT_ONLY:
        return following.isdigit()
    if word in _CAPITALISED_ONLY:
        return following.isdigit() or raw[0].isupper()
    return word in ABBREVIATIONS or word.rstrip(".") in ABBREVIATIONS


def _cut_long(text: str, span: Span, max_len: int) -> list[Span]:
    out: list[Span] = []
    a = span.start
    while span.end - a > max_len:
        cut = a + max_len
        ws = cut
        while ws > a + max_len // 2 and not is_space(text[ws]):
            ws -= 1
        if ws > a + max_len // 2:
            cut = ws
        _add_trimmed(text, a, cut, out)
        a = cut
        while a < span.end and is_space(text[a]):
            a += 1
    _add_trimmed(text, a, span.end, out)
    return out
