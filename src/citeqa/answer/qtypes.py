"""Expected answer types of questions, and the spans in a sentence that fit them.

Pure regular-expression cues, no model: who → people and organisations,
when → dates and years, where → places, how many/much → numbers, how long →
durations, what does X stand for → the name written out before "(X)".
"""

from __future__ import annotations

import re

from citeqa.ingest.terms import cached_terms
from citeqa.models import Span

PERSON, PLACE, DATE, NUMBER, DURATION, OTHER = "person", "place", "date", "number", "duration", "other"
EXPANSION = "expansion"  # what an abbreviation stands for

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?"
)
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})s?"
_NUMWORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand"
    r"|million|billion|trillion|dozen|several|half)"
)
_NUMBER = rf"(?:[$€£¥]\s?)?(?:\d[\d,]*(?:\.\d+)?|{_NUMWORD}(?:[\s-]+{_NUMWORD})*)(?:\s?(?:%|percent|per cent))?"
_UNIT = r"(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|centuries|century)"
_CAP = r"(?:[A-Z][\w’'.&-]*[\w.]|[A-Z])"
_CONNECT = r"(?:of|the|de|du|la|von|van|der|da|and|for|on|in)"
_NAME = rf"{_CAP}(?:\s+(?:{_CONNECT}\s+)*{_CAP})*"

DATE_RE = re.compile(
    rf"\b(?:{_ORD}\s+{_MONTH}(?:,?\s+{_YEAR})?|{_MONTH}(?:\s+{_ORD})?(?:,?\s+{_YEAR})?|{_YEAR}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)\s+century|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})\b"
    rf"|\b(?:the\s+)?(?:early|mid|late|end of)[\s-]+(?:the\s+)?(?:{_YEAR}|\w+\s+century)"
)
DURATION_RE = re.compile(rf"\b{_NUMBER}[\s-]+{_UNIT}\b", re.IGNORECASE)
NUMBER_RE = re.compile(rf"(?<![\w.])(?:{_NUMBER})(?:\s+(?:million|billion|thousand|hundred))?(?![\w])", re.IGNORECASE)
NAME_RE = re.compile(rf"\b{_NAME}")
TITLED_RE = re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mme|Dr|Prof|Sir|Dame|Lady|Lord|President|King|Queen|Pope|Saint)\.?\s+{_NAME}")
EXPANSION_RE = re.compile(rf"\b({_NAME})\s*\(\s*([A-Z][A-Za-z]*[A-Z][\w/&.-]*)\s*\)")
ABBREVIATION_RE = re.compile(r"\b[A-Z][A-Za-z]*[A-Z][A-Za-z0-9]*\b")
ORG_RE = re.compile(
    r"\b(?:Group|Groups|Commission|Ministry|Ministries|Committee|Council|Agency|University|Institute|Association"
    r"|Company|Corporation|Corp|Inc|Ltd|Department|Office|Union|Board|Bank|Organi[sz]ation|Academy|Centre|Center"
    r"|Foundation|Parliament|Government|Administration|Network|Forum|Project|Programme|Program|Alliance|Party"
    r"|Society|School|College|Court|Authority|Service|Services|Dialogue|Team|Consortium|Federation|Platform)\b"
)
PLACE_RE = re.compile(rf"\b(?:in|at|from|near|to|of)\s+(?:the\s+)?({_NAME})")

_QTYPE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, re.IGNORECASE), t)
    for p, t in (
        (r"\bstands? for\b|\b(?:full|complete) name of (?-i:[A-Z]{2,})|\b(?:abbreviation|acronym|initials)\b", EXPANSION),
        (r"\bhow (?:long|many (?:years|months|weeks|days|hours))\b", DURATION),
        (
            r"\bhow (?:many|much)\b|\bwhat (?:percentage|proportion|number|amount|size)\b|\bhow (?:far|big|large|old|tall|high)\b",
            NUMBER,
        ),
        (
            r"\bwhen\b|\bwhat (?:year|date|month|day|decade|century|time)\b|\bwhich (?:year|date|month|decade|century)\b"
            r"|\bin what (?:year|month|decade|century)\b|\bsince when\b",
            DATE,
        ),
        (
            r"\bwho(?:m|se)?\b|\bwhich (?:person|people|organi[sz]ation|company|university|institute|ministry|man|woman)\b"
            r"|\bwhat (?:person|organi[sz]ation|company|university|institute|ministry)\b|\bwhat (?:is|was) the name\b",
            PERSON,
        ),
        (
            r"\bwhere\b|\b(?:which|what|in what|in which) (?:city|country|place|region|location|continent|town|state|province)\b",
            PLACE,
        ),
    )
)


def question_type(question: str) -> str:
    """The expected answer type of a question (``OTHER`` when no cue applies).

    Only the first line counts: a follow-up query carries earlier questions below it.
    """
    question = question.split("\n", 1)[0]
    for pattern, kind in _QTYPE_RULES:
        if pattern.search(question):
            return kind
    return OTHER


def without_cue(question: str) -> str:
    """The question with its answer-type cue blanked out ("stand for", "how many", "what year"), same length.

    The cue says what kind of answer is wanted; the answer's sentence is not expected to repeat it, so
    its words do not count as question terms to be found."""
    first = question.split("\n", 1)[0]
    for pattern, _ in _QTYPE_RULES:
        m = pattern.search(first)
        if m:
            return question[: m.start()] + " " * (m.end() - m.start()) + question[m.end() :]
    return question


def abbreviations(question: str) -> frozenset[str]:
    """The abbreviations a question names ("MIIT" in "What does MIIT stand for?"), upper-cased."""
    return frozenset(m.group().upper() for m in ABBREVIATION_RE.finditer(question.split("\n", 1)[0]))


def typed_spans(sentence: str, kind: str, asked: frozenset[str] = frozenset()) -> list[Span]:
    """Spans of ``sentence`` that could answer a question of type ``kind``.

    For an expansion, ``asked`` (see :func:`abbreviations`) keeps only the name written out before
    the asked abbreviation, wherever it stands in the sentence: "… by the Ministry of Industry and
    Information Technology (MIIT) and …" answers "What does MIIT stand for?", "(MIIT/MoST)" does not."""
    if kind == DATE:
        return [Span(m.start(), m.end()) for m in DATE_RE.finditer(sentence)]
    if kind == DURATION:
        return [Span(m.start(), m.end()) for m in DURATION_RE.finditer(sentence)]
    if kind == NUMBER:
        dates = [(m.start(), m.end()) for m in DATE_RE.finditer(sentence)]
        return [Span(m.start(), m.end()) for m in NUMBER_RE.finditer(sentence)
                if not _is_year(m.group()) and not any(a <= m.start() < b for a, b in dates)]
    if kind == PERSON:
        titled = [_trim_period(sentence, Span(m.start(), m.end())) for m in TITLED_RE.finditer(sentence)]
        names = [_trim_period(sentence, _strip_determiner(sentence, Span(m.start(), m.end()))) for m in NAME_RE.finditer(sentence)
                 if _name_ok(sentence, m.start(), m.group())]
        return titled + [n for n in names if n.end > n.start and not any(t.start <= n.start < t.end for t in titled)]
    if kind == EXPANSION:
        return [_strip_determiner(sentence, Span(m.start(1), m.end(1))) for m in EXPANSION_RE.finditer(sentence)
                if not asked or m.group(2).upper() in asked]
    if kind == PLACE:
        return [Span(m.start(1), m.end(1)) for m in PLACE_RE.finditer(sentence) if not DATE_RE.fullmatch(m.group(1))]
    return []


def span_priority(text: str, span: Span) -> int:
    """0 for a titled name ("Mr. Yu Xiaohui"), 1 for several words, 2 for one word, 3 for an organisation."""
    piece = text[span.start : span.end]
    if TITLED_RE.match(piece):
        return 0
    if ORG_RE.search(piece):
        return 3
    return 1 if " " in piece.strip() else 2


def named_by(question_terms: set[str], piece: str, kind: str) -> bool:
    """True when the question already names ``piece``, so it cannot be the answer.

    A name, place or expansion is named when any of its words is in the question ("the IoT
    Advisory Group" for "Who led the IoT advisory group?"); a date or number only when all are.
    """
    span_terms = set(cached_terms(piece))
    if not span_terms:
        return True
    if kind in (PERSON, PLACE, EXPANSION):
        return bool(span_terms & question_terms)
    return span_terms <= question_terms


def type_score(sentence: str, kind: str, question_terms: set[str], asked: frozenset[str] = frozenset()) -> float:
    """How well ``sentence`` holds an answer of type ``kind`` that the question does not already name.

    1 for such a span; for a "who" question 0.5 when the only names are organisations
    (people first: "headed by Mr. Yu" beats "the EU-China IoT Advisory Group"); else 0.
    """
    if kind == OTHER:
        return 0.0
    best = 0.0
    for s in typed_spans(sentence, kind, asked):
        piece = sentence[s.start : s.end]
        if named_by(question_terms, piece, kind):
            continue
        if kind == PERSON and ORG_RE.search(piece):
            best = max(best, 0.5)
            continue
        return 1.0
    return best


def _trim_period(sentence: str, span: Span) -> Span:
    """A name that ends its sentence without the full stop ("… led by Mr. Yu Xiaohui.")."""
    piece = sentence[span.start : span.end]
    last = piece.rsplit(" ", 1)[-1]
    return Span(span.start, span.end - 1) if piece.endswith(".") and len(last) > 3 else span


def _strip_determiner(sentence: str, span: Span) -> Span:
    piece = sentence[span.start : span.end]
    for det in ("The ", "A ", "An "):
        if piece.startswith(det):
            return Span(span.start + len(det), span.end)
    return span


def _is_year(s: str) -> bool:
    return bool(re.fullmatch(_YEAR, s.strip()))


_NOT_NAMES = frozenset(
    "The A An In On At It Its This That These Those He She They We After Before Both Most Some".split()
)


def _name_ok(sentence: str, start: int, text: str) -> bool:
    """Drop a lone capitalised word that only starts the sentence, and month/weekday words."""
    first = text.split()[0]
    if DATE_RE.fullmatch(text):
        return False
    if " " not in text and (start == 0 or sentence[:start].rstrip().endswith((".", ":", "•"))):
        return False
    return not (" " not in text and first in _NOT_NAMES)
