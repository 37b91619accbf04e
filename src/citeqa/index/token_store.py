"""Token vectors of every sentence, for the answerer's token alignment (see :mod:`citeqa.encode.tokens`).

Each sentence row of the index (the rows of ``sentences.npy``) owns the content
tokens of the text that was embedded for it, stored in four files:

``tokens.npy``        int8 ``(tokens, dim)``, one row per content token
``token_scales.npy``  float32 ``(tokens,)``, the row's scale (``vector ≈ int8 * scale``)
``token_spans.npy``   int32 ``(tokens, 2)``, the token's characters relative to the sentence's start
                      (negative for context: the section title and a list's lead-in)
``token_ptr.npy``     int64 ``(sentences + 1,)``, sentence ``i`` owns tokens ``ptr[i]:ptr[i + 1]``

How the tokens are made follows ``Settings.sentence_vectors``: with ``"separate"`` they
come from the very pass that embeds each sentence's text (section — lead-in —
sentence), so they cost no extra forward pass; with ``"late"`` from a pass over the
whole chunk, keeping the tokens of the sentence, its section title and lead-in.
Both are cached in the embedding cache. An embedder without ``embed_tokens``
leaves every sentence without tokens (the alignment signal is then 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa.encode.embedder import Embedder
from citeqa.encode.tokens import TokenVectors, dequantize, quantize
from citeqa.index.store import EmbeddingCache
from citeqa.models import Chunk, sha256_hex

Progress = Callable[[str, int, int], None]
FILES = ("tokens.npy", "token_scales.npy", "token_spans.npy", "token_ptr.npy")
BATCH = 256
_TAG = "tok1"  # part of every token cache key: bump when what is stored changes


@dataclass(frozen=True)
class TokenStore:
    """The token rows of an index, memory-mapped (read-only)."""

    q: np.ndarray
    scales: np.ndarray
    spans: np.ndarray
    ptr: np.ndarray

    @property
    def n_sentences(self) -> int:
        return max(0, len(self.ptr) - 1)

    def sentences(self, lo: int, hi: int) -> list[TokenVectors]:
        """The token vectors of sentence rows ``lo`` to ``hi - 1``."""
        a, b = int(self.ptr[lo]), int(self.ptr[hi])
        vecs = dequantize(self.q[a:b], self.scales[a:b])
        spans = np.asarray(self.spans[a:b], dtype=np.int32)
        return [TokenVectors(vecs[int(self.ptr[i]) - a : int(self.ptr[i + 1]) - a],
                             spans[int(self.ptr[i]) - a : int(self.ptr[i + 1]) - a]) for i in range(lo, hi)]


    def best_alignment(self, ranges: Sequence[tuple[int, int]], question: np.ndarray, weights: np.ndarray
                       ) -> np.ndarray:
        """For each sentence range ``(lo, hi)``, the best token alignment of one of its sentences with the
        question (``question``: its token vectors, ``weights``: their weights); 0 where there are no tokens.

        One gather and one matrix product for all ranges (see :func:`citeqa.answer.align.alignment`)."""
        out = np.zeros(len(ranges), dtype=np.float32)
        if not len(ranges) or not len(question):
            return out
        ptr = self.ptr
        sent_rows = np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges])
        owner = np.repeat(np.arange(len(ranges)), [hi - lo for lo, hi in ranges])
        counts = ptr[sent_rows + 1] - ptr[sent_rows]
        keep = counts > 0
        sent_rows, owner, counts = sent_rows[keep], owner[keep], counts[keep]
        if not len(sent_rows):
            return out
        starts = ptr[sent_rows]
        idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        block = self.q[idx]
        if block.shape[1] != question.shape[1]:
            return out
        sim = question @ block.T.astype(np.float32)  # (question tokens, gathered tokens); scales after:
        sim *= self.scales[idx][None, :]  # far fewer multiplications than dequantizing the block
        bounds = np.concatenate([[0], np.cumsum(counts)[:-1]])
        per_sentence = np.maximum.reduceat(sim, bounds, axis=1)  # (question tokens, sentences)
        score = (weights @ per_sentence) / (float(weights.sum()) or 1.0)
        np.maximum.at(out, owner, score.astype(np.float32))
        return out


def load_tokens(folder: Path) -> TokenStore:
    """The token rows in ``folder`` (raises OSError/ValueError when missing or damaged)."""
    q, scales, spans, ptr = (np.load(folder / f, allow_pickle=False, mmap_mode="r") for f in FILES)
    if len(q) != len(scales) or len(q) != len(spans) or (len(ptr) and int(ptr[-1]) != len(q)):
        raise ValueError("token files disagree in length")
    return TokenStore(q, scales, spans, np.asarray(ptr, dtype=np.int64))


def save_tokens(folder: Path, tokens: Sequence[TokenVectors], dim: int, old: TokenStore | None = None) -> None:
    """Write ``tokens`` (one item per sentence row, in row order) after the rows of ``old``, if given."""
    qs, scales = zip(*(quantize(t.vectors.reshape(-1, dim)) for t in tokens)) if tokens else ((), ())
    parts_q = [np.zeros((0, dim), np.int8), *qs]
    parts_s = [np.zeros(0, np.float32), *scales]
    parts_sp = [np.zeros((0, 2), np.int32), *(np.asarray(t.spans, np.int32).reshape(-1, 2) for t in tokens)]
    counts = np.array([len(t) for t in tokens], dtype=np.int64)
    base = 0
    ptr_old = np.zeros(1, dtype=np.int64)
    if old is not None and old.n_sentences:
        parts_q.insert(0, np.asarray(old.q))
        parts_s.insert(0, np.asarray(old.scales))
        parts_sp.insert(0, np.asarray(old.spans))
        ptr_old, base = np.asarray(old.ptr, dtype=np.int64), int(old.ptr[-1])
    ptr = np.concatenate([ptr_old, base + np.cumsum(counts)])
    for name, arr in zip(FILES, (np.concatenate(parts_q), np.concatenate(parts_s), np.concatenate(parts_sp), ptr)):
        np.save(folder / name, arr, allow_pickle=False)


def sentence_tokens(
    embedder: Embedder, model: str, chunks: Sequence[Chunk], cache: EmbeddingCache,
    how: str = "separate", progress: Progress | None = None,
) -> tuple[list[TokenVectors], int]:
    """Token vectors for every sentence of ``chunks`` (in order), and how many texts were embedded for them.

    With ``"separate"`` the vectors of the sentence texts go into the cache as well, so the sentence
    vector step that follows finds them there and embeds nothing twice.
    """
    n_sent = sum(len(c.sentences) for c in chunks)
    embed = getattr(embedder, "embed_tokens", None)
    if embed is None:
        return [TokenVectors.empty(0)] * n_sent, 0
    if how == "late":
        texts = [c.embed_text for c in chunks]
    else:
        texts = [c.sentence_embed_text(i) for c in chunks for i in range(len(c.sentences))]
    keys = [sha256_hex(f"{model}\0{_TAG}\0{t}") for t in texts]
    found = cache.get_tokens(keys)
    missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
    for done in range(0, len(missing), BATCH):
        part = missing[done : done + BATCH]
        vecs, toks = embed([texts[i] for i in part])
        plain = [] if how == "late" else [(sha256_hex(f"{model}\0{texts[i]}"), v) for i, v in zip(part, vecs)]
        cache.put_tokens(((keys[i], tv) for i, tv in zip(part, toks)), plain)  # one transaction
        found.update(zip((keys[i] for i in part), toks))
        if progress:
            progress("tokens", min(done + BATCH, len(missing)), len(missing))
    if how == "late":
        out = [t for c, k in zip(chunks, keys) for t in _late_sentences(c, found[k])]
    else:
        out = [_shift(found[k], len(t) - len(c.sentence(i)))
               for (c, i), k, t in zip(((c, i) for c in chunks for i in range(len(c.sentences))), keys, texts)]
    return out, len(missing)


def _shift(tv: TokenVectors, by: int) -> TokenVectors:
    return TokenVectors(tv.vectors, (np.asarray(tv.spans, np.int32) - by).astype(np.int32))


def _late_sentences(chunk: Chunk, tv: TokenVectors) -> list[TokenVectors]:
    """Per sentence, the chunk's tokens inside the sentence, its section title or its lead-in."""
    off = len(chunk.section) + 1 if chunk.section else 0
    spans = np.asarray(tv.spans, dtype=np.int64).reshape(-1, 2)
    title = spans[:, 1] <= len(chunk.section) if chunk.section else np.zeros(len(spans), bool)
    out = []
    for i, s in enumerate(chunk.sentences):
        start = s.start - chunk.start + off

        def inside(a: int, b: int) -> np.ndarray:
            return (spans[:, 0] >= a) & (spans[:, 1] <= b)

        keep = inside(start, s.end - chunk.start + off) | title
        lead = chunk.lead_in(i)
        if lead is not None:
            ls = chunk.sentences[lead]
            keep |= inside(ls.start - chunk.start + off, ls.end - chunk.start + off)
        out.append(TokenVectors(tv.vectors[keep], (spans[keep] - start).astype(np.int32)))
    return out
