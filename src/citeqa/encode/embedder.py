"""Embedders: a one-method protocol, the real model (loaded lazily, once) and a fake for tests.

The bundled model (and any local BERT sentence-transformers folder) runs on
:class:`citeqa.encode.bert_numpy.BertEncoder`, a numpy forward pass that needs no torch,
so ``citeqa ask`` starts in a fraction of a second; other models go through
sentence-transformers.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from citeqa.config import DEFAULT_MODEL, offline_model_env
from citeqa.encode.bert_numpy import BertEncoder
from citeqa.encode.bundled import resolve_model
from citeqa.encode.tokens import TokenVectors, random_projection
from citeqa.encode.weights import base_tensors, unsupported_reason
from citeqa.errors import ModelError
from citeqa.ingest.terms import STOPWORDS, normalize, words

_WORD_RE = re.compile(r"\w+")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text.

    An embedder may also offer ``embed_many(texts)``, a faster way to embed many
    texts at once (same vectors within a tested tolerance), and
    ``embed_with_sentences(texts, sentences)``, late-pooled sentence vectors from
    the same pass (see :mod:`citeqa.index.sentence_vectors`); the index build uses them where present;
    and ``embed_tokens(texts)``, the vectors with each text's content-token states
    (:class:`citeqa.encode.tokens.TokenVectors`) for the answerer's token alignment.
    """

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, imported and loaded on first use only."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                offline_model_env()
                try:
                    from sentence_transformers import SentenceTransformer

                    path = resolve_model(self.model_name)
                    self._model = SentenceTransformer(path, device="cpu")
                    _fill_from_base(self._model, Path(path))
                except ModelError:
                    raise
                except Exception as exc:
                    raise ModelError(f"cannot load embedding model {self.model_name!r}: {exc}") from exc
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _fill_from_base(model, folder: Path) -> None:
    """A model citeqa trained ships without the tensors it kept from its base (``citeqa_model.json``): put them
    into the sentence-transformers copy, which would otherwise start them at random."""
    tensors = base_tensors(folder) if (folder / "citeqa_model.json").is_file() else {}
    if tensors:
        import torch

        model[0].auto_model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=False)


class HashEmbedder:
    """A deterministic stand-in for tests: a sum of hash-seeded word vectors, normalised.

    Texts sharing words get similar vectors, so retrieval tests mean something.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def _word(self, w: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(w.encode("utf-8")).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def embed_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[TokenVectors]]:
        """Vectors, and one token per content word: its hash vector (so only the same word aligns)."""
        toks = []
        for t in texts:
            spans = [(m.start(), m.end()) for m in _WORD_RE.finditer(t) if m.group().lower() not in STOPWORDS]
            vecs = [self._word(normalize(t[a:b])) for a, b in spans]
            if vecs:
                v = np.vstack(vecs)
                toks.append(TokenVectors(v / np.linalg.norm(v, axis=1, keepdims=True),
                                         np.asarray(spans, dtype=np.int32)))
            else:
                toks.append(TokenVectors.empty(self.dim))
        return self.embed(texts), toks

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in words(t):
                out[i] += self._word(w)
            n = float(np.linalg.norm(out[i]))
            if n > 0:
                out[i] /= n
            else:
                out[i, 0] = 1.0
        return out


def model_folder(model: str) -> Path | None:
    """The local folder of ``model`` (the bundled copy for the default), or ``None`` for a hub name."""
    folder = Path(resolve_model(model)).expanduser()
    return folder if folder.is_dir() else None


class PrecomputedEmbedder:
    """Wraps an embedder: single texts added with :meth:`add` (embedded together, in one batch) come from a
    table; everything else, and the wrapped embedder's extras (``embed_with_sentences``), goes to ``inner``.

    For evaluations that ask many known questions: batch vectors equal one-at-a-time ones to ~1e-7.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.vectors: dict[str, np.ndarray] = {}
        self.tokens: dict[str, TokenVectors] = {}

    def add(self, texts: Sequence[str]) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if not new:
            return
        with_tokens = getattr(self.inner, "embed_tokens", None)
        if with_tokens is None:
            self.vectors.update(zip(new, self.inner.embed(new)))
            return
        vecs, toks = with_tokens(new)
        self.vectors.update(zip(new, vecs))
        self.tokens.update(zip(new, toks))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self.vectors:
            return self.vectors[texts[0]][None, :]
        return self.inner.embed(texts)

    def embed_tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, list[TokenVectors]]:
        if len(texts) == 1 and texts[0] in self.tokens:
            return self.vectors[texts[0]][None, :], [self.tokens[texts[0]]]
        return self.inner.embed_tokens(texts)  # type: ignore[attr-defined]

    def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        return getattr(self.inner, "embed_many", self.inner.embed)(texts)

    def __getattr__(self, name: str) -> object:
        if name in ("inner", "tokens", "vectors"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def token_projection(embedder: Embedder) -> np.ndarray:
    """The matrix that takes the embedder's token vectors to the index's token space (see
    :func:`citeqa.encode.tokens.projection`): the model's own for the numpy encoder, else a seeded random one."""
    own = getattr(embedder, "token_projection", None)
    if callable(own):
        return own()
    dim = getattr(embedder, "dim", None) or int(embedder.embed(["dimension"]).shape[1])
    return random_projection(int(dim))


def embed_query(embedder: Embedder, text: str) -> tuple[np.ndarray, TokenVectors | None]:
    """A question's vector and, where the embedder offers them, its content tokens (one pass)."""
    with_tokens = getattr(embedder, "embed_tokens", None)
    if with_tokens is None:
        return embedder.embed([text])[0], None
    vecs, toks = with_tokens([text])
    return vecs[0], toks[0]


def make_embedder(model: str) -> Embedder:
    """The embedder for a model setting (``"hash"`` selects the fake, for tests).

    A local BERT sentence-transformers folder (the bundled model among them) runs
    on the numpy encoder of :mod:`citeqa.encode.bert_numpy`, which needs no torch; any other
    model goes through sentence-transformers.
    """
    if model.startswith("hash"):
        dim = int(model.split(":", 1)[1]) if ":" in model else 384
        return HashEmbedder(dim)
    folder = model_folder(model)
    if folder is not None and unsupported_reason(folder) is None:
        return BertEncoder(folder)
    return SentenceTransformerEmbedder(model)
