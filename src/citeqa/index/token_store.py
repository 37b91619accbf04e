"""Token vectors of every sentence, for the answerer's token alignment (see :mod:`citeqa.encode.tokens`).

Each sentence row of the index (the rows of ``sentences.npy``) owns the content
tokens of the text that was embedded for it, projected to 128 dimensions and
stored as int8, in five files:

``tokens.npy``            int8 ``(tokens, 128)``, one row per content token
``token_scales.npy``      float32 ``(tokens,)``, the row's scale (``vector ≈ int8 * scale``)
``token_spans.npy``       int32 ``(tokens, 2)``, the token's characters relative to the sentence's start
                          (negative for context: the section title and a list's lead-in)
``token_ptr.npy``         int64 ``(sentences + 1,)``, sentence ``i`` owns tokens ``ptr[i]:ptr[i + 1]``
``token_projection.npy``  float32 ``(dim, 128)``, the projection (questions are projected by it too)

How the tokens are made follows ``Settings.sentence_vectors``: with ``"separate"`` they
come from the very pass that embeds each sentence's text (section — lead-in —
sentence), so they cost no extra forward pass; with ``"late"`` from a pass over the
whole chunk, keeping the tokens of the sentence, its section title and lead-in.
Both are cached, packed, in the embedding cache. An embedder without
``embed_tokens`` leaves every sentence without tokens (the alignment signal is then 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa.encode.embedder import Embedder, token_projection
from citeqa.encode.tokens import PackedTokens, TokenVectors, project
from citeqa.index.sentence_vectors import vector_key
from citeqa.index.store import EmbeddingCache
from citeqa.models import Chunk, sha256_hex

Progress = Callable[[str, int, int], None]
FILES = ("tokens.npy", "token_scales.npy", "token_spans.npy", "token_ptr.npy")
PROJECTION = "token_projection.npy"
BATCH = 256
_TAG = "tok2"  # part of every token cache key: bump when what is stored changes


@dataclass(frozen=True)
class TokenStore:
    """The token rows of an index (memory-mapped, read-only) and the projection questions go through."""

    packed: PackedTokens
    projection: np.ndarray

    @property
    def n_sentences(self) -> int:
        return len(self.packed)

    def project(self, tokens: TokenVectors | None) -> TokenVectors | None:
        """A question's tokens in the index's space."""
        return None if tokens is None else project(tokens, self.projection)

    def sentences(self, lo: int, hi: int) -> list[TokenVectors]:
        """The token vectors of sentence rows ``lo`` to ``hi - 1``."""
        return [self.packed.get(i) for i in range(lo, hi)]

    def best_alignment(self, ranges: Sequence[tuple[int, int]], question: np.ndarray, weights: np.ndarray
                       ) -> np.ndarray:
        """For each sentence range ``(lo, hi)``, the best token alignment of one of its sentences with the
        question (``question``: its projected token vectors, ``weights``: theirs); 0 where there are no tokens.

        One gather and one matrix product for all ranges (see :func:`citeqa.answer.align.alignment`)."""
        out = np.zeros(len(ranges), dtype=np.float32)
        ptr = self.packed.ptr
        if not len(ranges) or not len(question):
            return out
        sent_rows = np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges])
        owner = np.repeat(np.arange(len(ranges)), [hi - lo for lo, hi in ranges])
        counts = ptr[sent_rows + 1] - ptr[sent_rows]
        keep = counts > 0
        sent_rows, owner, counts = sent_rows[keep], owner[keep], counts[keep]
        if not len(sent_rows):
            return out
        idx = np.repeat(ptr[sent_rows] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        block = self.packed.q[idx]
        if block.shape[1] != question.shape[1]:
            return out
        # (question tokens, gathered tokens), in float64 so that a sentence's score does not depend on which
        # other sentences share the block (BLAS sums in another order for other shapes; a sharded index must
        # rank exactly as one index); scales after, far fewer multiplications than dequantizing the block.
        sim = question.astype(np.float64) @ block.T.astype(np.float64)
        sim *= self.packed.scales[idx][None, :]
        per_sentence = np.maximum.reduceat(sim, np.concatenate([[0], np.cumsum(counts)[:-1]]), axis=1)
        score = (weights.astype(np.float64) @ per_sentence) / (float(weights.sum()) or 1.0)
        np.maximum.at(out, owner, score.astype(np.float32))
        return out


def load_tokens(folder: Path) -> TokenStore:
    """The token rows in ``folder`` (raises OSError/ValueError when missing or damaged)."""
    q, scales, spans, ptr = (np.load(folder / f, allow_pickle=False, mmap_mode="r") for f in FILES)
    proj = np.load(folder / PROJECTION, allow_pickle=False)
    if len(q) != len(scales) or len(q) != len(spans) or (len(ptr) and int(ptr[-1]) != len(q)):
        raise ValueError("token files disagree in length")
    if proj.ndim != 2 or (len(q) and proj.shape[1] != q.shape[1]):
        raise ValueError("the token projection does not fit the token rows")
    return TokenStore(PackedTokens(q, scales, spans, np.asarray(ptr, dtype=np.int64)), proj)


def save_tokens(folder: Path, tokens: PackedTokens, projection: np.ndarray, old: TokenStore | None = None) -> None:
    """Write ``tokens`` (one text per sentence row, in row order) after the rows of ``old``, if given."""
    packed = PackedTokens.join([old.packed, tokens] if old is not None else [tokens], projection.shape[1])
    for name, arr in zip(FILES, (packed.q, packed.scales, packed.spans, packed.ptr)):
        np.save(folder / name, arr, allow_pickle=False)
    np.save(folder / PROJECTION, projection.astype(np.float32), allow_pickle=False)


def token_key(model: str, projection: np.ndarray, text: str) -> str:
    """The cache key of a text's token vectors (the projection is part of it)."""
    return sha256_hex(f"{model}\0{_TAG}:{sha256_hex(projection.tobytes().hex())[:12]}\0{text}")


def sentence_tokens(
    embedder: Embedder, model: str, chunks: Sequence[Chunk], cache: EmbeddingCache,
    how: str = "separate", progress: Progress | None = None,
) -> tuple[PackedTokens, np.ndarray, int]:
    """Packed token vectors for every sentence of ``chunks`` (in order), the projection, and how many texts
    were embedded for them.

    With ``"separate"`` the vectors of the sentence texts go into the cache as well (same transaction), so the
    sentence vector step that follows finds them there and embeds nothing twice.
    """
    n_sent = sum(len(c.sentences) for c in chunks)
    proj = token_projection(embedder)
    dims = proj.shape[1]
    if getattr(embedder, "embed_tokens", None) is None:
        return PackedTokens.pack([TokenVectors.empty(dims)] * n_sent, dims), proj, 0
    late = how == "late"
    texts = ([c.embed_text for c in chunks] if late else
             [c.sentence_embed_text(i) for c in chunks for i in range(len(c.sentences))])
    keys = [token_key(model, proj, t) for t in texts]
    found = cache.get_tokens(keys)
    missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
    for done in range(0, len(missing), BATCH):
        part = missing[done : done + BATCH]
        vecs, toks = embedder.embed_tokens([texts[i] for i in part])  # type: ignore[attr-defined]
        batch = PackedTokens.projected(toks, proj)
        plain = [] if late else [(vector_key(model, texts[i]), v) for i, v in zip(part, vecs)]
        cache.put_tokens([keys[i] for i in part], batch, plain)  # one transaction
        found.update((keys[i], (batch, j)) for j, i in enumerate(part))
        if progress:
            progress("tokens", min(done + BATCH, len(missing)), len(missing))
    if late:
        return PackedTokens.join([p for c, k in zip(chunks, keys)
                                  for p in _late_sentences(c, PackedTokens.take([found[k]], dims), dims)],
                                 dims), proj, len(missing)
    packed = PackedTokens.take([found[k] for k in keys], dims)
    del found
    # spans from the start of the embedded text (section — lead-in — sentence) to the start of the sentence
    shifts = np.array([len(t) - len(c.sentence(i)) for (c, i), t in
                       zip(((c, i) for c in chunks for i in range(len(c.sentences))), texts)], dtype=np.int32)
    packed.spans[:] -= np.repeat(shifts, np.diff(packed.ptr))[:, None]
    return packed, proj, len(missing)


def _late_sentences(chunk: Chunk, p: PackedTokens, dims: int) -> list[PackedTokens]:
    """Per sentence, the chunk's tokens inside the sentence, its section title or its lead-in."""
    off = len(chunk.section) + 1 if chunk.section else 0
    spans = np.asarray(p.spans, dtype=np.int64).reshape(-1, 2)
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
        n = int(keep.sum())
        out.append(PackedTokens(np.asarray(p.q)[keep].reshape(n, dims), np.asarray(p.scales)[keep],
                                (spans[keep] - start).astype(np.int32), np.array([0, n], np.int64)))
    return out

