"""Extractive answers: a pure function from retrieved passages to a cited answer.

No I/O and no model: the caller passes the question vector, each passage's
sentence vectors and the IDF of the question's terms. Every quote is a slice of
its chunk's text, so ``document.text[start:end] == quote`` holds by construction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from citeqa.calibration import Calibration
from citeqa.models import Answer, Chunk, Citation, Passage, Span
from citeqa.qtypes import OTHER, question_type, typed_spans
from citeqa.text import terms

MAX_LIST_CHARS = 1200
_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Candidate:
    """One sentence of one passage, with the signals that score it."""

    passage: int
    index: int
    span: Span
    score: float
    cos: float
    overlap: float
    context_overlap: float
    type_match: float


def _coverage(q_terms: Sequence[str], idf: Mapping[str, float], found: set[str]) -> float:
    total = sum(idf.get(t, 1.0) for t in q_terms)
    return sum(idf.get(t, 1.0) for t in q_terms if t in found) / total if total else 0.0


def _quote(chunk: Chunk, span: Span) -> str:
    return chunk.text[span.start - chunk.start : span.end - chunk.start]


def score_sentences(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    calibration: Calibration,
) -> list[Candidate]:
    """Score every sentence of every passage against the question, best first."""
    q_terms = list(dict.fromkeys(terms(question)))
    kind = question_type(question)
    q_words = set(q_terms)
    out: list[Candidate] = []
    top_fused = max((p.score for p in passages), default=1.0) or 1.0
    for pi, (p, vecs) in enumerate(zip(passages, sentence_vectors)):
        chunk = p.chunk
        section_terms = set(terms(chunk.section))
        sent_terms = [set(terms(_quote(chunk, s))) for s in chunk.sentences]
        cos = (np.asarray(vecs, dtype=np.float32) @ qvec.astype(np.float32)) if len(vecs) else np.zeros(0)
        for si, span in enumerate(chunk.sentences):
            found = sent_terms[si]
            context = found | section_terms | (sent_terms[si - 1] if si else set())
            overlap = _coverage(q_terms, idf, found)
            ctx = _coverage(q_terms, idf, context)
            if kind == OTHER:
                type_match = 0.5
            else:
                text = _quote(chunk, span)
                type_match = float(any(not (set(terms(text[t.start : t.end])) <= q_words)
                                       for t in typed_spans(text, kind)))
            c = float(cos[si]) if si < len(cos) else 0.0
            feats = {
                "cos": c,
                "overlap": overlap,
                "context_overlap": ctx,
                "type_match": type_match,
                "passage_rank": 1.0 / (1 + pi),
                "passage_fused": p.score / top_fused,
                "passage_dense": p.dense_score or 0.0,
                "novelty": float(len(found - q_words) > 0),
            }
            out.append(Candidate(pi, si, span, calibration.sentence_score(feats), c, overlap, ctx, type_match))
    out.sort(key=lambda c: (-c.score, c.passage, c.index))
    return out


def _extent(chunk: Chunk, best: int) -> tuple[int, int]:
    """Sentence range to quote: the best sentence, or a lead-in with the list under it."""
    sents = chunk.sentences
    text = _quote(chunk, sents[best])
    if text.endswith(":") and best + 1 < len(sents):
        last = best + 1
        while last + 1 < len(sents) and sents[last + 1].end - sents[best].start <= MAX_LIST_CHARS:
            last += 1
        return best, last
    return best, best


def answer_span(question: str, quote: str) -> Span | None:
    """The short typed answer inside ``quote`` ("February 2011"), if one fits the question."""
    kind = question_type(question)
    if kind == OTHER:
        return None
    q = set(terms(question))
    spans = [s for s in typed_spans(quote, kind) if not set(terms(quote[s.start : s.end])) <= q]
    if not spans:
        return None
    q_pos = [m.start() for m in _WORD_RE.finditer(quote) if set(terms(m.group())) & q]
    if not q_pos:
        return spans[0]
    return min(spans, key=lambda s: min(abs(s.start - a) for a in q_pos))


def extract_answer(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    calibration: Calibration,
    min_confidence: float | None = None,
) -> Answer:
    """The cited answer to ``question`` from ``passages``, or an abstention.

    ``sentence_vectors[i]`` holds one normalised vector per sentence of
    ``passages[i].chunk``. Abstains when the calibrated confidence is below
    ``min_confidence`` (the calibration's default threshold when ``None``).
    """
    threshold = calibration.threshold if min_confidence is None else min_confidence
    cands = score_sentences(question, qvec, passages, sentence_vectors, idf, calibration)
    if not cands:
        return Answer(question, None, True, 0.0, passages=tuple(passages))
    best = cands[0]
    runner = cands[1].score if len(cands) > 1 else best.score - 1.0
    q_terms = list(dict.fromkeys(terms(question)))
    p = passages[best.passage]
    passage_terms = set(terms(p.chunk.embed_text))
    top_terms = set(terms(passages[0].chunk.embed_text))
    max_idf = max((idf.get(t, 1.0) for t in q_terms), default=1.0) or 1.0
    missing = max((idf.get(t, 1.0) for t in q_terms if t not in passage_terms), default=0.0) / max_idf
    feats = {
        "best_score": best.score,
        "margin": best.score - runner,
        "cos": best.cos,
        "overlap": best.overlap,
        "context_overlap": best.context_overlap,
        "passage_coverage": _coverage(q_terms, idf, passage_terms),
        "top_coverage": _coverage(q_terms, idf, top_terms),
        "missing_rare": missing,
        "type_match": best.type_match,
        "passage_dense": p.dense_score or 0.0,
        "n_terms": math.log1p(len(q_terms)),
    }
    confidence = calibration.confidence(feats) if q_terms else 0.0
    if confidence < threshold:
        return Answer(question, None, True, confidence, passages=tuple(passages), features=feats)
    lo, hi = _extent(p.chunk, best.index)
    start, end = p.chunk.sentences[lo].start, p.chunk.sentences[hi].end
    quote = _quote(p.chunk, Span(start, end))
    cite = Citation(1, p.chunk.doc, p.chunk.section, start, end, quote, best.score)
    return Answer(question, quote, False, confidence, answer_span(question, quote), (cite,), tuple(passages), feats)
