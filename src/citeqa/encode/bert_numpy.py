"""A pure-numpy BERT sentence encoder: the forward pass of a sentence-transformers model, no torch.

It reads a local sentence-transformers folder whose modules are a BERT
``Transformer`` then mean ``Pooling`` (optionally ``Normalize``): weights from
``model.safetensors`` and the tokenizer from ``tokenizer.json`` (``tokenizers``
package). Vectors match ``SentenceTransformer.encode(..., normalize_embeddings=True)``
to float32 rounding; importing this module and loading a model takes well under
a second, against several seconds for torch and sentence-transformers.

Texts are tokenized, sorted by length and run in batches of similar length under
a token budget, so little work goes to padding; numpy's BLAS runs on one thread
per batch (see :mod:`citeqa.encode.threads`) and many texts run one batch per core.
:meth:`BertEncoder.embed_many` (index builds) uses a bfloat16 torch pass where the
CPU has native bfloat16 (:mod:`citeqa.encode.bert_torch`), several times faster.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from citeqa.encode.bert_torch import TorchForward, native_bf16, torch_available  # torch itself loads lazily
from citeqa.encode.pooling import Sentence, pool_sentences
from citeqa.encode.threads import cores, release_memory, single_threaded_blas
from citeqa.encode.tokens import TokenVectors, projection, select
from citeqa.encode.weights import Layer, load_weights, unsupported_reason
from citeqa.errors import ModelError

# Abramowitz & Stegun 7.1.26 for erfc(z) = poly(t) * exp(-z^2), t = 1 / (1 + p z), |error| < 1.5e-7;
# folded for GELU: gelu(x) = max(x, 0) - |x| * 0.5 * erfc(|x| / sqrt 2).
_P = np.float32(0.3275911 / np.sqrt(2.0))
_A = [np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)]  # a1..a5
_ROWS = 256  # rows per block of the feed-forward step (keeps the 4x wide intermediate in cache)
Forward = Callable[[list[list[int]]], np.ndarray]
BULK_MIN = 64  # texts; fewer go through the float32 numpy pass


class BertEncoder:
    """Embeds texts with a BERT sentence-transformers model in numpy (float32); ``token_budget`` bounds the
    tokens (padding included) of one forward batch."""

    def __init__(self, folder: Path | str, token_budget: int = 4096) -> None:
        self.folder = Path(folder)
        reason = unsupported_reason(self.folder)
        if reason:
            raise ValueError(f"{self.folder}: {reason}")
        self.token_budget = token_budget
        self._lock = threading.Lock()
        self._loaded = False
        self._bulk: TorchForward | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._projection: np.ndarray | None = None
        self.workers: int | None = None  # batches in parallel (default: one per core this process may use)

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            try:
                self._read()
            except Exception as exc:
                raise ModelError(f"cannot load embedding model from {self.folder}: {exc}") from exc
            self._loaded = True

    def _read(self) -> None:
        """Read the tokenizer and the weights (:func:`citeqa.encode.weights.load_weights`)."""
        w = self.weights = load_weights(self.folder)
        self.tokenizer, self.max_len, self.heads, self.eps, self.dim = w.tokenizer, w.max_len, w.heads, w.eps, w.dim
        self.word, self.pos_type, self.ln0, self.layers = w.word, w.pos_type, w.ln0, w.layers

    def token_projection(self) -> np.ndarray:
        """The token vectors' projection for the index (:func:`citeqa.encode.tokens.projection`), made once."""
        self._load()
        self._projection = projection(self.word) if self._projection is None else self._projection
        return self._projection

    @property
    def dimension(self) -> int:
        self._load()
        return self.dim

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, ``[CLS] … [SEP]``, truncated to the model's maximum length."""
        self._load()
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text (float32 numpy pass, BLAS on one thread per batch)."""
        with single_threaded_blas():
            return self._run(texts, self.forward, self._workers() if len(texts) >= BULK_MIN else None)

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Like :meth:`embed`, for bulk work: a bfloat16 torch pass where the CPU has native bfloat16.

        Small jobs and machines without native bfloat16 (or without torch) use :meth:`embed`.
        """
        bulk = self._bulk_forward(len(texts))
        if bulk is None:
            return self.embed(texts)
        try:
            with bulk.single_threaded_ops():
                return self._run(texts, bulk.forward, self._workers())
        finally:
            release_memory()  # freed batch arrays otherwise pile up in glibc's per-thread heaps

    def embed_with_sentences(
        self, texts: Sequence[str], sentences: Sequence[Sequence[Sentence]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of ``texts`` (as :meth:`embed_many`) and late-pooled vectors of their sentences, one pass.

        ``sentences[i]`` gives the sentences of ``texts[i]`` by character spans (see
        :func:`citeqa.encode.pooling.pool_sentences`): one matrix of L2-normalised rows per text, zeros
        for a sentence late pooling cannot embed (cut off by truncation, or without tokens)."""
        if len(texts) != len(sentences):
            raise ValueError("one list of sentences per text")
        pooled: list[np.ndarray] = [np.zeros((len(s), 0), dtype=np.float32) for s in sentences]

        def each(i: int, states: np.ndarray, offsets: np.ndarray, truncated: bool) -> None:
            pooled[i] = pool_sentences(states, offsets, sentences[i], truncated)

        return self._with_states(texts, each), pooled

    def embed_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[TokenVectors]]:
        """Vectors of ``texts`` (as :meth:`embed_many`) and their content tokens' states, from one pass."""
        tokens: list[TokenVectors] = [TokenVectors.empty(0)] * len(texts)

        def each(i: int, states: np.ndarray, offsets: np.ndarray, truncated: bool) -> None:
            tokens[i] = select(texts[i], states, offsets)

        return self._with_states(texts, each), tokens

    def _with_states(self, texts: Sequence[str], each: Callable[[int, np.ndarray, np.ndarray, bool], None]
                     ) -> np.ndarray:
        """Normalised mean-pooled vectors of ``texts``; ``each(i, token states, offsets, truncated)`` per text."""
        self._load()
        bulk = self._bulk_forward(len(texts))
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        ids = [e.ids for e in encodings]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        hidden = bulk.hidden if bulk is not None else self.hidden

        def run(batch: list[int]) -> None:
            h = hidden([ids[i] for i in batch])
            for row, i in enumerate(batch):
                states = h[row, : len(ids[i])]
                out[i] = states.mean(axis=0, dtype=np.float32)
                each(i, states, np.array(encodings[i].offsets), len(ids[i]) >= self.max_len)

        if not len(texts):
            return out
        pool = self._workers() if len(texts) >= BULK_MIN else None
        try:
            with bulk.single_threaded_ops() if bulk is not None else single_threaded_blas():
                self._each_batch([len(x) for x in ids], run, pool)
        finally:
            if bulk is not None:
                release_memory()
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _bulk_forward(self, n_texts: int) -> TorchForward | None:
        """The bfloat16 torch pass for a job of ``n_texts`` texts, or ``None`` where the numpy pass should run."""
        if n_texts < BULK_MIN or not native_bf16() or not torch_available():
            return None
        self._load()
        with self._lock:
            if self._bulk is None:
                self._bulk = TorchForward(self.weights)
        return self._bulk

    def _workers(self) -> ThreadPoolExecutor:
        """One long-lived worker per core (fresh threads per call would each get a new malloc arena)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers or cores(), thread_name_prefix="citeqa-embed")
        return self._pool

    def _run(self, texts: Sequence[str], forward: Forward, pool: ThreadPoolExecutor | None = None) -> np.ndarray:
        self._load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        ids = self.tokenize(texts)

        def run(batch: list[int]) -> None:
            out[batch] = forward([ids[i] for i in batch])

        self._each_batch([len(x) for x in ids], run, pool)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _each_batch(
        self, lengths: list[int], run: Callable[[list[int]], None], pool: ThreadPoolExecutor | None
    ) -> None:
        """``run`` on every batch of text indices (see :meth:`_batches`), in parallel on ``pool`` if given."""
        batches = self._batches(lengths)
        if pool is not None and len(batches) > 1:
            list(pool.map(run, batches))
        else:
            for batch in batches:
                run(batch)

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Text indices grouped longest first into batches of similar length under the token budget."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches, start = [], 0
        while start < len(order):
            width = lengths[order[start]]
            stop, limit = start + 1, min(len(order), start + max(1, self.token_budget // width))
            while stop < limit and lengths[order[stop]] * 4 >= width * 3:  # pad by at most a third
                stop += 1
            batches.append(order[start:stop])
            start = stop
        return batches

    def forward(self, batch: list[list[int]]) -> np.ndarray:
        """Mean-pooled last hidden states (not normalised) of a batch of token id lists."""
        h, mask = self._states(batch)
        summed = np.einsum("bld,bl->bd", h, mask, optimize=False)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)

    def hidden(self, batch: list[list[int]]) -> np.ndarray:
        """Last hidden states ``(texts, width, dim)`` of a batch of token id lists (padding rows are junk)."""
        return self._states(batch)[0]

    def _states(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        n, width = len(batch), max(len(x) for x in batch)
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.float32)
        for i, x in enumerate(batch):
            ids[i, : len(x)] = x
            mask[i, : len(x)] = 1.0
        h = self.word[ids] + self.pos_type[:width]
        h = _layer_norm(h.reshape(n * width, -1), *self.ln0, self.eps)
        bias = ((mask - 1.0) * np.float32(3.0e38))[:, None, None, :]  # -inf-like on padding keys
        for layer in self.layers:
            h = self._block(h, layer, n, width, bias)
        return h.reshape(n, width, -1), mask

    def _block(self, h: np.ndarray, layer: Layer, n: int, width: int, bias: np.ndarray) -> np.ndarray:
        dim, heads = h.shape[1], self.heads
        hd = dim // heads
        qkv = h @ layer.qkv_w
        qkv += layer.qkv_b
        qkv = qkv.reshape(n, width, 3, heads, hd).transpose(2, 0, 3, 1, 4)  # (3, n, heads, width, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1.0 / np.sqrt(hd))
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(n * width, dim)
        a = ctx @ layer.out_w
        a += layer.out_b
        a += h
        h1 = _layer_norm(a, *layer.ln1, self.eps)
        out = np.empty_like(h1)
        for r in range(0, len(h1), _ROWS):
            blk = h1[r : r + _ROWS]
            up = blk @ layer.up_w
            up += layer.up_b
            o = _gelu(up) @ layer.down_w
            o += layer.down_b
            o += blk
            out[r : r + _ROWS] = o
        return _layer_norm(out, *layer.ln2, self.eps)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: np.float32) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x, optimize=False)[:, None] / np.float32(x.shape[-1])
    x *= 1.0 / np.sqrt(var + eps)
    x *= w
    x += b
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU to ~1e-7, in place."""
    a = np.abs(x)
    t = a * _P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _A[4]
    for c in (_A[3], _A[2], _A[1], _A[0]):
        poly += c
        poly *= t
    sq = a * a
    sq *= np.float32(-0.5)
    np.exp(sq, out=sq)
    poly *= sq
    poly *= a
    np.maximum(x, 0.0, out=x)
    x -= poly
    return x
