"""Extractive answers: a pure function from retrieved passages to a cited answer.

No I/O and no model: the caller passes the question vector, each passage's
sentence vectors (and token vectors) and the IDF of the question's terms. Every
quote is a slice of its chunk's text, so ``document.text[start:end] == quote``
holds by construction.

Three outcomes (:attr:`citeqa.models.Answer.status`): *answered* when the
calibrated confidence reaches the threshold; *tentative* between the
out-of-corpus floor and the threshold (the best sentence, cited, marked low
confidence; ``abstained`` stays true); *abstained* below the floor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from citeqa.answer.align import aligned_chars
from citeqa.answer.calibration import Calibration
from citeqa.answer.features import Candidate, confidence_features, leans_back, quote, sentence_features
from citeqa.answer.qtypes import EXPANSION, OTHER, abbreviations, named_by, question_type, span_priority, typed_spans
from citeqa.encode.tokens import TokenVectors
from citeqa.ingest.sentences import BULLET_RE
from citeqa.ingest.terms import cached_terms as terms
from citeqa.models import Answer, Chunk, Citation, Passage, Span

MAX_LIST_CHARS = 1200
MAX_BACK_CHARS = 400  # a sentence leaning on the one before brings it along when that one is at most this long
# The runner-up sentence joins the answer when it is at least half as likely as the best (scores are logits).
RUNNER_UP_MARGIN = math.log(2)
_WORD_RE = re.compile(r"\w+")
_INTRODUCES = re.compile(r"\b(?:the following|as follows)\W*$", re.IGNORECASE)  # "… by the following."
# A sentence left open for the line under it: "To quit, the command is", "… type", "… as below".
_OPEN_END = re.compile(r"(?:\b(?:is|are|was|were|be|type|run|enter|use|execute|command|below|follows)|[:=])\s*$",
                       re.IGNORECASE)


def score_sentences(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    calibration: Calibration,
    sentence_tokens: Sequence[Sequence[TokenVectors]] = (),
    question_tokens: TokenVectors | None = None,
) -> list[Candidate]:
    """Score every sentence of every passage against the question, best first."""
    feats = sentence_features(question, qvec, passages, sentence_vectors, idf, sentence_tokens, question_tokens)
    out = [Candidate(pi, si, passages[pi].chunk.sentences[si], calibration.sentence_score(f), f)
           for pi, si, f in feats]
    out.sort(key=lambda c: (-c.score, c.passage, c.index))
    return out


def _gap(chunk: Chunk, i: int) -> str:
    """The text between sentence ``i - 1`` and sentence ``i`` (white space, a bullet marker)."""
    return chunk.text[chunk.sentences[i - 1].end - chunk.start : chunk.sentences[i].start - chunk.start]


def _is_item(chunk: Chunk, i: int) -> bool:
    """Whether sentence ``i`` starts a line with a bullet or number marker (a list item)."""
    gap = _gap(chunk, i)
    return "\n" in gap and BULLET_RE.fullmatch(gap[gap.rfind("\n") + 1 :]) is not None


def _extent(chunk: Chunk, best: int) -> tuple[int, int]:
    """Sentence range to quote: the sentence with what it leans on or what completes it.

    A lead-in (ending in ":" or "the following") brings its list: the items under it, up to
    :data:`MAX_LIST_CHARS`, and nothing after the list; a sentence left open ("… the command is") or a lead-in
    brings the line under it that completes it (a command, a formula). A sentence opening with "This…", "It…",
    "They…" brings the sentence before it (its subject); a list item brings its lead-in line (two quotes then,
    see :func:`_cite`). A table's first row (its header) brings the rows under it, as a lead-in its items; any
    other row brings the header (see :meth:`Chunk.lead_in`).
    """
    sents = chunk.sentences
    text = quote(chunk, sents[best])
    nxt = best + 1
    if chunk.table_row(best) and chunk.lead_in(best) is None and chunk.next_line(best) and chunk.table_row(nxt):
        last = nxt
        while (chunk.next_line(last) and chunk.table_row(last + 1)
               and sents[last + 1].end - sents[best].start <= MAX_LIST_CHARS):
            last += 1
        return best, last
    follows = nxt < len(sents) and (_is_item(chunk, nxt) or _gap(chunk, nxt).count("\n") == 1)  # not a paragraph
    if follows and (text.endswith(":") or _INTRODUCES.search(text) or _OPEN_END.search(text)):
        last = nxt
        if not _OPEN_END.search(text) or text.endswith(":"):
            while (last + 1 < len(sents) and _is_item(chunk, last + 1)
                   and sents[last + 1].end - sents[best].start <= MAX_LIST_CHARS):
                last += 1
        return best, last
    if best > 0 and leans_back(text) and sents[best - 1].end - sents[best - 1].start <= MAX_BACK_CHARS:
        return best - 1, best
    return best, best


def answer_span(question: str, text: str, aligned: Sequence[tuple[int, int]] = (),
                region: tuple[int, int] | None = None) -> Span | None:
    """The short answer inside ``text`` ("February 2011"): the typed span that fits the question, else
    (given ``aligned``, the characters of ``text`` that match the question) the longest stretch of
    content words of ``region`` (the best sentence) that the question does not match, when it is a clear
    part of that sentence."""
    kind = question_type(question)
    q = set(terms(question))
    if kind != OTHER:
        spans = [s for s in typed_spans(text, kind, abbreviations(question))
                 if not named_by(q, text[s.start : s.end], kind)]
        if spans:
            q_pos = [m.start() for m in _WORD_RE.finditer(text) if set(terms(m.group())) & q] or [0]
            # A name written out stands just before its abbreviation: measure from its end.
            at = (lambda s: s.end) if kind == EXPANSION else (lambda s: s.start)
            return min(spans, key=lambda s: (span_priority(text, s), min(abs(at(s) - a) for a in q_pos)))
    if not aligned or region is None:
        return None
    found = _unaligned(text[region[0] : region[1]], q, [(a - region[0], b - region[0]) for a, b in aligned])
    return Span(found.start + region[0], found.end + region[0]) if found else None


def _unaligned(text: str, q: set[str], aligned: Sequence[tuple[int, int]]) -> Span | None:
    """The longest run of words (across stop words, within one clause) that neither the question's words
    nor its aligned tokens cover; only when the question is matched somewhere else in the sentence."""
    words = list(_WORD_RE.finditer(text))
    covered = [any(a < m.end() and m.start() < b for a, b in aligned) or bool(set(terms(m.group())) & q)
               for m in words]
    if not any(covered):
        return None
    best: tuple[int, int] | None = None
    i = 0
    while i < len(words):
        if covered[i] or not terms(words[i].group()):
            i += 1
            continue
        j = i
        while (j + 1 < len(words) and not covered[j + 1]
               and not re.search(r"[,;:()]", text[words[j].end() : words[j + 1].start()])):
            j += 1
        while j > i and not terms(words[j].group()):
            j -= 1
        if best is None or words[j].end() - words[i].start() > best[1] - best[0]:
            best = (words[i].start(), words[j].end())
        i = j + 1
    if best is None or best[1] - best[0] > 0.6 * len(text.strip()):
        return None
    return Span(*best)


def extract_answer(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    calibration: Calibration,
    min_confidence: float | None = None,
    sentence_tokens: Sequence[Sequence[TokenVectors]] = (),
    question_tokens: TokenVectors | None = None,
) -> Answer:
    """The cited answer to ``question`` from ``passages``: answered, tentative or abstained.

    ``sentence_vectors[i]`` holds one normalised vector per sentence of ``passages[i].chunk`` (and
    ``sentence_tokens[i]`` their token vectors). Below ``min_confidence`` (the calibration's default
    threshold when ``None``) the answer is tentative, or abstained below the calibration's floor.
    """
    threshold = calibration.threshold if min_confidence is None else min_confidence
    cands = score_sentences(question, qvec, passages, sentence_vectors, idf, calibration, sentence_tokens,
                            question_tokens)
    if not cands:
        return Answer(question, None, True, 0.0, passages=tuple(passages))
    best = cands[0]
    runner = cands[1].score if len(cands) > 1 else best.score - 1.0
    chosen = [best] + ([cands[1]] if len(cands) > 1 and best.score - runner < RUNNER_UP_MARGIN else [])
    citations = _cite(passages, chosen, set(terms(question)))
    text = " ".join(c.quote for c in citations)
    second_align = max((c.features.get("align", 0.0) for c in cands[1:]), default=0.0)
    feats = confidence_features(question, best, best.score - runner, text, passages, idf,
                                best.features.get("align", 0.0) - second_align)
    confidence = calibration.confidence(feats) if feats["n_terms"] > 0 else 0.0
    aligned, region = _aligned_in(text, citations, best, passages, sentence_tokens, question_tokens)
    span = answer_span(question, text, aligned, region)
    answer = Answer(question, text, False, confidence, span, citations, tuple(passages), feats)
    return apply_threshold(answer, threshold, calibration.floor)


def _aligned_in(text: str, citations: Sequence[Citation], best: Candidate, passages: Sequence[Passage],
                sentence_tokens: Sequence[Sequence[TokenVectors]], question_tokens: TokenVectors | None,
                ) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """Characters of the answer ``text`` (quotes joined by spaces) that the question's tokens match, and
    where the best sentence stands in ``text``."""
    toks = sentence_tokens[best.passage] if best.passage < len(sentence_tokens) else ()
    if question_tokens is None or best.index >= len(toks):
        return [], None
    doc = passages[best.passage].chunk.doc
    pos = 0
    for c in citations:
        if c.doc == doc and c.start <= best.span.start < c.end:
            at = pos + best.span.start - c.start
            region = (at, at + best.span.end - best.span.start)
            return [(at + a, at + b) for a, b in aligned_chars(question_tokens, toks[best.index])], region
        pos += len(c.quote) + 1
    return [], None


def _cite(passages: Sequence[Passage], chosen: Sequence[Candidate], question: set[str] | None = None
          ) -> tuple[Citation, ...]:
    """Citations for the chosen sentences: adjacent ones merge, lists come with their lead-in. A list item (or
    table row) that shares no word with the ``question`` (its terms) was chosen for its lead-in (or header),
    which the question asked about: the lead-in is quoted with its whole list, as far as :func:`_extent` goes."""
    ranges: list[tuple[int, int, int, float]] = []  # passage, first sentence, last sentence, score
    for c in chosen:
        chunk = passages[c.passage].chunk
        lo, hi = _extent(chunk, c.index)
        lead = chunk.lead_in(c.index) if lo == c.index else None
        unnamed = question is not None and not question & set(terms(chunk.sentence(c.index)))
        if lead is not None and lead < lo and unnamed and (whole := _extent(chunk, lead))[1] >= hi:
            (lo, hi), lead = whole, None
        if lead is not None and lead < lo:
            ranges.append((c.passage, lead, lead, c.score))  # a list item: its lead-in line, quoted apart
        ranges.append((c.passage, lo, hi, c.score))
    ranges.sort(key=lambda r: (passages[r[0]].chunk.doc, passages[r[0]].chunk.start, r[1]))
    merged: list[tuple[int, int, int, float]] = []
    for r in ranges:
        if merged and merged[-1][0] == r[0] and r[1] <= merged[-1][2] + 1:
            m = merged[-1]
            merged[-1] = (m[0], m[1], max(m[2], r[2]), max(m[3], r[3]))
        else:
            merged.append(r)
    out = []
    for n, (pi, lo, hi, score) in enumerate(merged, start=1):
        chunk = passages[pi].chunk
        start, end = chunk.sentences[lo].start, chunk.sentences[hi].end
        out.append(Citation(n, chunk.doc, chunk.section, start, end, quote(chunk, Span(start, end)), score))
    return tuple(out)


def apply_threshold(answer: Answer, threshold: float, floor: float | None = None) -> Answer:
    """The answer as it stands at ``threshold``: answered at or above it, tentative (the quote kept,
    ``abstained`` true) from ``floor`` up, abstained below ``floor`` (or below ``threshold`` when no
    floor is given)."""
    if answer.answer is None:
        return answer
    if answer.confidence >= threshold:
        return answer if not answer.abstained else Answer(
            answer.question, answer.answer, False, answer.confidence, answer.answer_span, answer.citations,
            answer.passages, answer.features)
    if floor is not None and floor <= answer.confidence:
        return Answer(answer.question, answer.answer, True, answer.confidence, answer.answer_span,
                      answer.citations, answer.passages, answer.features)
    return Answer(answer.question, None, True, answer.confidence, passages=answer.passages, features=answer.features)
