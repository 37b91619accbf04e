"""Late pooling: sentence vectors from the token states of one transformer pass over their whole chunk.

A chunk's vector is the mean of all its token states (what the model is trained
for). A sentence's vector is the mean of the states of the tokens that lie inside
the sentence's character span, plus weighted means over context spans (the
section title), normalised. The tokens were computed with the whole chunk in
view, so a sentence vector costs a few additions instead of a forward pass.

Pure functions of token offsets and states; no model here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Part = tuple[int, int, float]
"""A half-open character span ``[start, end)`` of the embedded text and its weight."""
Sentence = Sequence[Part]
"""A sentence's parts: first the sentence itself, then any context spans (weights relative to it)."""


def span_tokens(offsets: np.ndarray, start: int, end: int) -> np.ndarray:
    """Indices of the tokens lying wholly inside ``[start, end)``.

    ``offsets`` is the fast tokenizer's ``(n_tokens, 2)`` character offsets;
    special tokens (``[CLS]``, ``[SEP]``) have empty offsets and never count.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    a, b = offsets[:, 0], offsets[:, 1]
    return np.flatnonzero((b > a) & (a >= start) & (b <= end))


def pool_sentences(
    states: np.ndarray, offsets: np.ndarray, sentences: Sequence[Sentence], truncated: bool
) -> np.ndarray:
    """One L2-normalised row per sentence; a row of zeros where late pooling cannot make one.

    A sentence gets no vector (zeros) when none of its tokens is there, or when
    ``truncated`` (the text was cut to the model's maximum length) and its span
    runs past the last token kept. The caller embeds those separately.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    out = np.zeros((len(sentences), states.shape[1]), dtype=np.float32)
    kept_end = int(offsets[:, 1].max()) if len(offsets) else 0
    for j, parts in enumerate(sentences):
        (start, end, weight), *context = parts
        idx = span_tokens(offsets, start, end)
        if not len(idx) or (truncated and end > kept_end):
            continue
        vec = weight * states[idx].mean(axis=0, dtype=np.float32)
        for c_start, c_end, c_weight in context:
            c_idx = span_tokens(offsets, c_start, c_end)
            if len(c_idx) and c_weight:
                vec = vec + c_weight * states[c_idx].mean(axis=0, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if norm > 0:
            out[j] = vec / norm
    return out
