"""Token vectors for late interaction: the model's contextual state of every content token of a text.

The question's tokens are matched to the most similar token of a candidate
sentence (as in ColBERT and BERTScore), which catches paraphrases that a pooled
sentence vector blurs ("run by" ~ "headed by"). Only content tokens are kept:
not ``[CLS]``/``[SEP]``, punctuation or stop words (about 55% of all tokens).

An index keeps them small: each is projected to ``TOKEN_DIMS`` (128) dimensions
(:func:`projection`: the principal directions of the model's own word-embedding
table, so no data is needed and every build of a model gets the same matrix) and
stored as int8 with one scale per token (:func:`quantize`): 140 bytes a token
with its span, against 1,544 for float32 at 384 dimensions. Measured as a
sentence scorer (best sentence of the top five passages): full float32 0.926 /
0.833 (seed gold set / SQuAD six articles), int8 content tokens 0.912 / 0.830,
projected to 128 dimensions 0.912 / 0.829, to 64 0.882 / 0.819; a random
projection to 128 0.897 / 0.819 (used for models without a word table).

Pure functions of token offsets and states; no model here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from citeqa.ingest.terms import STOPWORDS


@dataclass(frozen=True)
class TokenVectors:
    """The content tokens of one text: L2-normalised states ``(n, dim)`` and character spans ``(n, 2)``."""

    vectors: np.ndarray
    spans: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)

    @staticmethod
    def empty(dim: int) -> TokenVectors:
        return TokenVectors(np.zeros((0, dim), dtype=np.float32), np.zeros((0, 2), dtype=np.int32))


def content_tokens(text: str, offsets: np.ndarray) -> np.ndarray:
    """Indices of the tokens that belong to a content word of ``text`` (not a stop word, not punctuation).

    ``offsets`` are the fast tokenizer's ``(n_tokens, 2)`` character spans; special tokens have empty
    spans. A word piece counts with its whole word (``"head" "##ed"`` both belong to "headed").
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    keep: list[int] = []
    for i, (a, b) in enumerate(offsets):
        if b <= a or not any(ch.isalnum() for ch in text[a:b]):
            continue
        s, e = int(a), int(b)
        while s > 0 and text[s - 1].isalnum():
            s -= 1
        while e < len(text) and text[e].isalnum():
            e += 1
        if text[s:e].lower() not in STOPWORDS:
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def select(text: str, states: np.ndarray, offsets: np.ndarray) -> TokenVectors:
    """The content tokens of ``text`` from a pass's token ``states``, normalised."""
    idx = content_tokens(text, offsets[: len(states)])
    vecs = np.asarray(states, dtype=np.float32)[idx]
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    spans = np.asarray(offsets, dtype=np.int32).reshape(-1, 2)[idx]
    return TokenVectors(np.ascontiguousarray(vecs, dtype=np.float32), spans)


TOKEN_DIMS = 128


@dataclass(frozen=True)
class PackedTokens:
    """The tokens of many texts, int8: text ``i`` owns rows ``ptr[i]:ptr[i + 1]`` of ``q``, ``scales``, ``spans``."""

    q: np.ndarray
    scales: np.ndarray
    spans: np.ndarray
    ptr: np.ndarray

    def __len__(self) -> int:
        return max(0, len(self.ptr) - 1)

    def get(self, i: int) -> TokenVectors:
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        return TokenVectors(dequantize(self.q[a:b], self.scales[a:b]), np.asarray(self.spans[a:b], dtype=np.int32))

    @staticmethod
    def projected(items: Sequence[TokenVectors], matrix: np.ndarray) -> PackedTokens:
        """``items`` projected by ``matrix``, normalised and quantized, in one pass over all their tokens."""
        dims = matrix.shape[1]
        counts = np.array([len(t) for t in items], dtype=np.int64)
        if not counts.sum():
            return PackedTokens.pack([TokenVectors.empty(dims)] * len(items), dims)
        v = np.concatenate([t.vectors for t in items if len(t)])
        if v.shape[1] != dims:
            v = v @ matrix
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        q, scales = quantize(v)
        spans = np.concatenate([np.asarray(t.spans, np.int32).reshape(-1, 2) for t in items])
        return PackedTokens(q, scales, spans, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))

    def rows(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Text ``i``'s int8 rows, scales and spans (views)."""
        a, b = int(self.ptr[i]), int(self.ptr[i + 1])
        return self.q[a:b], self.scales[a:b], self.spans[a:b]

    @staticmethod
    def pack(items: Sequence[TokenVectors], dim: int) -> PackedTokens:
        qs, scales = zip(*(quantize(t.vectors.reshape(-1, dim)) for t in items)) if items else ((), ())
        return PackedTokens.join([
            PackedTokens(q, s, np.asarray(t.spans, np.int32).reshape(-1, 2), np.array([0, len(q)], np.int64))
            for q, s, t in zip(qs, scales, items)], dim)

    @staticmethod
    def take(sources: Sequence[tuple[PackedTokens, int]], dim: int) -> PackedTokens:
        """Texts gathered from packs, in order: ``sources[j] = (pack, i)`` is text ``i`` of ``pack``."""
        counts = np.array([int(p.ptr[i + 1] - p.ptr[i]) for p, i in sources], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = int(ptr[-1])
        q, scales, spans = np.empty((n, dim), np.int8), np.empty(n, np.float32), np.empty((n, 2), np.int32)
        groups: dict[int, tuple[PackedTokens, list[int], list[int]]] = {}
        for j, (p, i) in enumerate(sources):
            g = groups.setdefault(id(p), (p, [], []))
            g[1].append(i)
            g[2].append(j)
        for p, texts, outs in groups.values():
            src_ptr = np.asarray(p.ptr, np.int64)
            t, o = np.asarray(texts, np.int64), np.asarray(outs, np.int64)
            c = counts[o]
            within = np.arange(int(c.sum())) - np.repeat(np.cumsum(c) - c, c)
            src, dst = np.repeat(src_ptr[t], c) + within, np.repeat(ptr[o], c) + within
            q[dst], scales[dst], spans[dst] = np.asarray(p.q)[src], np.asarray(p.scales)[src], np.asarray(p.spans)[src]
        return PackedTokens(q, scales, spans, ptr)

    @staticmethod
    def join(parts: Sequence[PackedTokens], dim: int) -> PackedTokens:
        """One packing of ``parts`` in order."""
        counts = [np.diff(np.asarray(p.ptr, np.int64)) for p in parts]
        return PackedTokens(
            np.concatenate([np.zeros((0, dim), np.int8), *(np.asarray(p.q) for p in parts)]),
            np.concatenate([np.zeros(0, np.float32), *(np.asarray(p.scales) for p in parts)]),
            np.concatenate([np.zeros((0, 2), np.int32), *(np.asarray(p.spans) for p in parts)]),
            np.concatenate([[0], np.cumsum(np.concatenate([np.zeros(0, np.int64), *counts]))]).astype(np.int64),
        )


def projection(word: np.ndarray, dims: int = TOKEN_DIMS) -> np.ndarray:
    """``(dim, dims)``: the top principal directions of a model's word-embedding table (data-free, deterministic).

    Signs are fixed (largest entry of each direction positive) so every computation gives the same matrix."""
    w = np.asarray(word, dtype=np.float64)
    w = w - w.mean(axis=0)
    _, vecs = np.linalg.eigh(w.T @ w)
    top = vecs[:, ::-1][:, : min(dims, w.shape[1])]
    top *= np.sign(top[np.abs(top).argmax(axis=0), np.arange(top.shape[1])])
    return np.ascontiguousarray(top, dtype=np.float32)


def random_projection(dim: int, dims: int = TOKEN_DIMS, seed: int = 0) -> np.ndarray:
    """A seeded random orthonormal ``(dim, dims)`` projection (identity when ``dim <= dims``)."""
    if dim <= dims:
        return np.eye(dim, dtype=np.float32)
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return np.ascontiguousarray(q[:, :dims], dtype=np.float32)


def project(tokens: TokenVectors, matrix: np.ndarray) -> TokenVectors:
    """Tokens projected by ``matrix`` and normalised again (unchanged when they are already projected)."""
    if tokens.vectors.shape[1] == matrix.shape[1] or not len(tokens):
        return TokenVectors(tokens.vectors.reshape(-1, matrix.shape[1]), tokens.spans)
    v = tokens.vectors @ matrix
    return TokenVectors(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12), tokens.spans)


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 rows and one float32 scale per row (``row ≈ q * scale``)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    scale = np.abs(vectors).max(axis=1) / 127.0 if len(vectors) else np.zeros(0, dtype=np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(vectors / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float32) * np.asarray(scale, dtype=np.float32)[:, None]
