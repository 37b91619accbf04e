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
from itertools import pairwise

import numpy as np

from citeqa.answer.calibration import Calibration
from citeqa.answer.qtypes import EXPANSION, OTHER, question_type, span_priority, typed_spans
from citeqa.ingest.terms import cached_terms as terms
from citeqa.models import Answer, Chunk, Citation, Passage, Span

MAX_LIST_CHARS = 1200
# The runner-up sentence joins the answer when it is at least half as likely as the best (scores are logits).
RUNNER_UP_MARGIN = math.log(2)
_WORD_RE = re.compile(r"\w+")
_NEGATION = re.compile(r"\b(not|never|no|none|nor|without|except|n't)\b|n't\b", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """One sentence of one passage, with the signals that score it."""

    passage: int
    index: int
    span: Span
    score: float
    features: Mapping[str, float]


def _coverage(q_terms: Sequence[str], idf: Mapping[str, float], found: set[str]) -> float:
    total = sum(idf.get(t, 1.0) for t in q_terms)
    return sum(idf.get(t, 1.0) for t in q_terms if t in found) / total if total else 0.0


def _bigrams(seq: Sequence[str]) -> set[tuple[str, str]]:
    return set(pairwise(seq))


def _names(question: str) -> set[str]:
    """Terms of capitalised words that do not start the question (names, places)."""
    ws = question.split()
    return {t for w in ws[1:] if w[:1].isupper() for t in terms(w)}


def _numbers(question: str) -> set[str]:
    return {t for t in terms(question) if any(ch.isdigit() for ch in t)}


def _quote(chunk: Chunk, span: Span) -> str:
    return chunk.text[span.start - chunk.start : span.end - chunk.start]


def _type_match(text: str, kind: str, q_words: set[str]) -> float:
    """1 when the sentence holds a span of the expected type that the question does not already name."""
    if kind == OTHER:
        return 0.0
    for t in typed_spans(text, kind):
        span_terms = set(terms(text[t.start : t.end]))
        if span_terms and len(span_terms & q_words) <= len(span_terms) / 2:
            return 1.0
    return 0.0


def sentence_features(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
) -> list[tuple[int, int, dict[str, float]]]:
    """``(passage index, sentence index, features)`` for every candidate sentence."""
    q_seq = terms(question)
    q_terms = list(dict.fromkeys(q_seq))
    q_words = set(q_terms)
    q_bi = _bigrams(q_seq)
    kind = question_type(question)
    top_fused = max((p.score for p in passages), default=1.0) or 1.0
    top_bm25 = max((p.bm25_score or 0.0 for p in passages), default=1.0) or 1.0
    out: list[tuple[int, int, dict[str, float]]] = []
    for pi, (p, vecs) in enumerate(zip(passages, sentence_vectors)):
        chunk = p.chunk
        section_terms = set(terms(chunk.section))
        seqs = [terms(_quote(chunk, s)) for s in chunk.sentences]
        sets = [set(x) for x in seqs]
        cos = (np.asarray(vecs, dtype=np.float32) @ qvec.astype(np.float32)) if len(vecs) else np.zeros(0)
        for si, span in enumerate(chunk.sentences):
            found = sets[si]
            context = found | section_terms | (sets[si - 1] if si else set())
            c = float(cos[si]) if si < len(cos) else 0.0
            neighbours = [float(cos[j]) for j in (si - 1, si + 1) if 0 <= j < len(cos)]
            out.append(
                (
                    pi,
                    si,
                    {
                        "cos": c,
                        "neighbour_cos": max(neighbours, default=c),
                        "overlap": _coverage(q_terms, idf, found),
                        "context_overlap": _coverage(q_terms, idf, context),
                        "bigram": len(_bigrams(seqs[si]) & q_bi) / len(q_bi) if q_bi else 0.0,
                        "type_match": _type_match(_quote(chunk, span), kind, q_words),
                        "typed_question": float(kind != OTHER),
                        "passage_rank": 1.0 / (1 + pi),
                        "passage_fused": p.score / top_fused,
                        "passage_dense": p.dense_score or 0.0,
                        "novelty": float(len(found - q_words) > 0),
                        "log_len": math.log1p(len(seqs[si])),
                        "cos_x_overlap": c * _coverage(q_terms, idf, found),
                        "passage_bm25": (p.bm25_score or 0.0) / top_bm25,
                    },
                )
            )
    for key in ("cos", "overlap", "context_overlap"):
        top = max((f[key] for _, _, f in out), default=0.0)
        for _, _, f in out:
            f[key + "_rel"] = f[key] - top
    return out


def score_sentences(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    calibration: Calibration,
) -> list[Candidate]:
    """Score every sentence of every passage against the question, best first."""
    out = [
        Candidate(pi, si, passages[pi].chunk.sentences[si], calibration.sentence_score(f), f)
        for pi, si, f in sentence_features(question, qvec, passages, sentence_vectors, idf)
    ]
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
    q_pos = [m.start() for m in _WORD_RE.finditer(quote) if set(terms(m.group())) & q] or [0]
    # A name written out stands just before its abbreviation: measure from its end.
    at = (lambda s: s.end) if kind == EXPANSION else (lambda s: s.start)
    return min(spans, key=lambda s: (span_priority(quote, s), min(abs(at(s) - a) for a in q_pos)))


def confidence_features(
    question: str,
    best: Candidate,
    margin: float,
    text: str,
    passages: Sequence[Passage],
    idf: Mapping[str, float],
) -> dict[str, float]:
    """The signals the confidence model reads: how well the answer and its surroundings fit the question."""
    kind = question_type(question)
    q_terms = list(dict.fromkeys(terms(question)))
    p = passages[best.passage]
    sents = p.chunk.sentences
    window_seq = [
        t
        for j in (best.index - 1, best.index, best.index + 1)
        if 0 <= j < len(sents)
        for t in terms(_quote(p.chunk, sents[j]))
    ]
    window = set(window_seq) | set(terms(p.chunk.section))
    q_seq = terms(question)
    passage_terms = set(terms(p.chunk.embed_text))
    all_terms = {t for q in passages for t in terms(q.chunk.embed_text)}
    max_idf = max((idf.get(t, 1.0) for t in q_terms), default=1.0) or 1.0

    def missing(found: set[str]) -> float:
        return max((idf.get(t, 1.0) for t in q_terms if t not in found), default=0.0) / max_idf

    return {
        "best_score": best.score,
        "margin": margin,
        "cos": best.features["cos"],
        "overlap": best.features["overlap"],
        "context_overlap": best.features["context_overlap"],
        "passage_coverage": _coverage(q_terms, idf, passage_terms),
        "top_coverage": _coverage(q_terms, idf, set(terms(passages[0].chunk.embed_text))),
        "all_coverage": _coverage(q_terms, idf, all_terms),
        "window_coverage": _coverage(q_terms, idf, window),
        "missing_rare": missing(passage_terms),
        "window_missing_rare": missing(window),
        "type_match": best.features["type_match"],
        "typed_question": best.features["typed_question"],
        "passage_dense": p.dense_score or 0.0,
        "top_dense": passages[0].dense_score or 0.0,
        "negation": float(bool(_NEGATION.search(question))),
        "type_missing": float(kind != OTHER and not _type_match(text, kind, set(q_terms))),
        "window_bigram": len(_bigrams(q_seq) & _bigrams(window_seq)) / max(1, len(_bigrams(q_seq))),
        "missing_terms": float(sum(t not in window for t in q_terms)),
        "missing_names": float(sum(t not in window for t in _names(question))),
        "missing_numbers": float(sum(t not in window for t in _numbers(question))),
        "n_terms": math.log1p(len(q_terms)),
    }


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
    chosen = [best] + ([cands[1]] if len(cands) > 1 and best.score - runner < RUNNER_UP_MARGIN else [])
    citations = _cite(passages, chosen)
    text = " ".join(c.quote for c in citations)
    feats = confidence_features(question, best, best.score - runner, text, passages, idf)
    confidence = calibration.confidence(feats) if feats["n_terms"] > 0 else 0.0
    if confidence < threshold:
        return Answer(question, None, True, confidence, passages=tuple(passages), features=feats)
    span = answer_span(question, text)
    return Answer(question, text, False, confidence, span, citations, tuple(passages), feats)


def _cite(passages: Sequence[Passage], chosen: Sequence[Candidate]) -> tuple[Citation, ...]:
    """Citations for the chosen sentences: adjacent ones merge, lists come with their lead-in."""
    ranges: list[tuple[int, int, int, float]] = []  # passage, first sentence, last sentence, score
    for c in chosen:
        lo, hi = _extent(passages[c.passage].chunk, c.index)
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
        out.append(Citation(n, chunk.doc, chunk.section, start, end, _quote(chunk, Span(start, end)), score))
    return tuple(out)


def apply_threshold(answer: Answer, threshold: float) -> Answer:
    """The same answer as an abstention when its confidence is below ``threshold``."""
    if answer.abstained or answer.confidence >= threshold:
        return answer
    return Answer(answer.question, None, True, answer.confidence, passages=answer.passages, features=answer.features)
