"""The signals the answerer reads: per candidate sentence (to choose it) and per answer (its confidence).

Pure functions: no I/O and no model. The caller passes the question vector, each
passage's sentence vectors and token vectors, the question's token vectors and the
IDF of the question's terms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from citeqa.answer.align import alignment, token_weights
from citeqa.answer.qtypes import EXPANSION, OTHER, abbreviations, question_type, type_score, without_cue
from citeqa.encode.tokens import TokenVectors
from citeqa.ingest.terms import cached_terms as terms
from citeqa.models import Chunk, Passage, Span


@dataclass(frozen=True)
class Candidate:
    """One sentence of one passage, with the signals that score it."""

    passage: int
    index: int
    span: Span
    score: float
    features: Mapping[str, float]

_NEGATION = re.compile(r"\b(not|never|no|none|nor|without|except|n't)\b|n't\b", re.IGNORECASE)
# A sentence that opens with one of these leans on the sentence before it for its subject.
ANAPHOR = re.compile(
    r"(?:[\W\d]*)(?:this|that|these|those|it|its|they|their|them|he|she|his|her|such|both|there|here"
    r"|the (?:latter|former|same|above|following|group|groups|meeting|team|tool|package|command|program|"
    r"company|city|project|method|model|process|system|latter))\b",
    re.IGNORECASE,
)


def quote(chunk: Chunk, span: Span) -> str:
    return chunk.text[span.start - chunk.start : span.end - chunk.start]


def leans_back(text: str) -> bool:
    """True when a sentence opens with a pronoun or a demonstrative ("This is…", "It was…", "They…")."""
    return bool(ANAPHOR.match(text))


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


def sentence_features(
    question: str,
    qvec: np.ndarray,
    passages: Sequence[Passage],
    sentence_vectors: Sequence[np.ndarray],
    idf: Mapping[str, float],
    sentence_tokens: Sequence[Sequence[TokenVectors]] = (),
    question_tokens: TokenVectors | None = None,
) -> list[tuple[int, int, dict[str, float]]]:
    """``(passage index, sentence index, features)`` for every candidate sentence.

    ``sentence_tokens[i][j]`` holds the token vectors of sentence ``j`` of passage ``i``; with
    ``question_tokens`` they give the token-alignment signals (0 where either is missing).
    """
    q_seq = terms(without_cue(question))
    q_terms = list(dict.fromkeys(q_seq))
    q_words = set(q_terms)
    q_bi = _bigrams(q_seq)
    kind = question_type(question)
    asked = abbreviations(question) if kind == EXPANSION else frozenset()
    qw = token_weights(without_cue(question), question_tokens, idf) if question_tokens is not None else None
    top_fused = max((p.score for p in passages), default=1.0) or 1.0
    top_bm25 = max((p.bm25_score or 0.0 for p in passages), default=1.0) or 1.0
    out: list[tuple[int, int, dict[str, float]]] = []
    for pi, (p, vecs) in enumerate(zip(passages, sentence_vectors)):
        chunk = p.chunk
        section_terms = set(terms(chunk.section))
        texts = [quote(chunk, s) for s in chunk.sentences]
        seqs = [terms(x) for x in texts]
        sets = [set(x) for x in seqs]
        cos = (np.asarray(vecs, dtype=np.float32) @ qvec.astype(np.float32)) if len(vecs) else np.zeros(0)
        toks = sentence_tokens[pi] if pi < len(sentence_tokens) else ()
        aligned = [alignment(question_tokens, qw, toks[si]) if qw is not None and si < len(toks) else (0.0, 0.0)
                   for si in range(len(chunk.sentences))]
        for si in range(len(chunk.sentences)):
            found = sets[si]
            context = found | section_terms | (sets[si - 1] if si else set())
            c = float(cos[si]) if si < len(cos) else 0.0
            neighbours = [float(cos[j]) for j in (si - 1, si + 1) if 0 <= j < len(cos)]
            back = float(si > 0 and leans_back(texts[si]))
            out.append((pi, si, {
                "cos": c,
                "neighbour_cos": max(neighbours, default=c),
                "overlap": _coverage(q_terms, idf, found),
                "context_overlap": _coverage(q_terms, idf, context),
                "bigram": len(_bigrams(seqs[si]) & q_bi) / len(q_bi) if q_bi else 0.0,
                "type_match": type_score(texts[si], kind, q_words, asked),
                "typed_question": float(kind != OTHER),
                "passage_rank": 1.0 / (1 + pi),
                "passage_fused": p.score / top_fused,
                "passage_dense": p.dense_score or 0.0,
                "novelty": float(len(found - q_words) > 0),
                "log_len": math.log1p(len(seqs[si])),
                "cos_x_overlap": c * _coverage(q_terms, idf, found),
                "passage_bm25": (p.bm25_score or 0.0) / top_bm25,
                "align": aligned[si][0],
                "align_cov": aligned[si][1],
                "leans_back": back,
                "back_align": back * aligned[si - 1][0] if si else 0.0,
                "back_overlap": back * _coverage(q_terms, idf, sets[si - 1]) if si else 0.0,
            }))
    for key in ("cos", "overlap", "context_overlap", "align"):
        top = max((f[key] for _, _, f in out), default=0.0)
        for _, _, f in out:
            f[key + "_rel"] = f[key] - top
    return out


def confidence_features(
    question: str,
    best: Candidate,
    margin: float,
    text: str,
    passages: Sequence[Passage],
    idf: Mapping[str, float],
    align_margin: float = 0.0,
) -> dict[str, float]:
    """The signals the confidence model reads: how well the answer and its surroundings fit the question."""
    kind = question_type(question)
    q_terms = list(dict.fromkeys(terms(without_cue(question))))
    p = passages[best.passage]
    sents = p.chunk.sentences
    window_seq = [
        t
        for j in (best.index - 1, best.index, best.index + 1)
        if 0 <= j < len(sents)
        for t in terms(quote(p.chunk, sents[j]))
    ]
    window = set(window_seq) | set(terms(p.chunk.section))
    q_seq = terms(without_cue(question))
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
        "type_missing": float(kind != OTHER and not type_score(text, kind, set(q_terms), abbreviations(question))),
        "align": best.features.get("align", 0.0),
        "align_cov": best.features.get("align_cov", 0.0),
        "align_margin": align_margin,
        "window_bigram": len(_bigrams(q_seq) & _bigrams(window_seq)) / max(1, len(_bigrams(q_seq))),
        "missing_terms": float(sum(t not in window for t in q_terms)),
        "missing_names": float(sum(t not in window for t in _names(question))),
        "missing_numbers": float(sum(t not in window for t in _numbers(question))),
        "n_terms": math.log1p(len(q_terms)),
    }


