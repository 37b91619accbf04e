"""What every kind of build shares: the vectors of a set of chunks (from the cache where possible), the
manifest, and writing a new data folder then swapping it in (:mod:`citeqa.index.layout`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from citeqa import __version__
from citeqa.config import Settings
from citeqa.encode.embedder import Embedder
from citeqa.encode.tokens import PackedTokens
from citeqa.index.layout import FORMAT, Progress, clean_leftovers, fsync_dir, swap_in, write_json
from citeqa.index.sentence_vectors import chunk_and_sentence_vectors
from citeqa.index.store import EmbeddingCache
from citeqa.index.token_store import sentence_tokens
from citeqa.ingest.files import READERS, Skipped, corpus_path
from citeqa.models import Chunk, Document, sha256_hex


@dataclass(frozen=True)
class BuildReport:
    """What a build did (``incremental``: only the changed files were read and embedded)."""

    up_to_date: bool
    documents: int
    chunks: int
    sentences: int
    embedded: int
    reused: int
    skipped: tuple[tuple[str, str], ...]
    seconds: float
    index_type: str
    incremental: bool = False
    changed: int = 0
    shards: int = 1
    nodes: tuple[str, ...] = ()  # where the work ran (another engine: the cluster's nodes)


@dataclass(frozen=True)
class Prepared:
    """Documents and chunks read elsewhere (another engine: :mod:`citeqa.cluster.build`), in corpus order."""

    docs: Sequence[Document]
    skipped: Sequence[Skipped]
    chunks: Sequence[Chunk]


def vectors_for(
    embedder: Embedder, settings: Settings, chunks: Sequence[Chunk], progress: Progress | None
) -> tuple[np.ndarray, np.ndarray, PackedTokens, np.ndarray, int]:
    """Chunk vectors, sentence vectors and token vectors (chunk by chunk), the token projection, and how many
    texts were embedded.

    The tokens come first: with separate sentence vectors their pass also caches the sentence vectors."""
    cache = EmbeddingCache(settings.index_dir / "embeddings.sqlite")
    try:
        tokens, proj, n1 = sentence_tokens(embedder, settings.model, chunks, cache, settings.sentence_vectors,
                                           progress)
        chunk_vecs, sent_vecs, n2 = chunk_and_sentence_vectors(embedder, settings.model, chunks, cache,
                                                               progress, settings.sentence_vectors)
        return chunk_vecs, sent_vecs, tokens, proj, n1 + n2
    finally:
        cache.close()


def manifest_for(
    settings: Settings, dim: int, index_type: str, counts: dict, positions: dict, files: dict,
    skipped: Sequence[Skipped], fingerprints: dict[str, tuple[int, int]],
) -> dict:
    return {
        "format": FORMAT,
        "citeqa_version": __version__,
        "model": settings.model,
        "dimension": dim,
        "chunking": settings.chunking_key(),
        "index_type": index_type,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": counts,
        "positions": positions,
        "files": dict(sorted(files.items())),
        "readers": READERS,
        "skipped": [{"path": s.path, "reason": s.reason} for s in skipped],
        "skipped_files": {s.path: fingerprint(hash_or_empty(corpus_path(settings.corpus_dir, s.path)),
                                      fingerprints.get(s.path)) for s in skipped if s.path in fingerprints},
    }


def new_folder(index_dir: Path) -> Path:
    folder = index_dir / f".build-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def finish(index_dir: Path, folder: Path, manifest: dict) -> None:
    write_json(folder / "manifest.json", manifest)
    fsync_dir(folder)
    swap_in(index_dir, folder)
    clean_leftovers(index_dir)


def fingerprint(sha: str, fp: tuple[int, int] | None) -> dict:
    size, mtime = fp or (-1, -1)
    return {"sha256": sha, "size": size, "mtime_ns": mtime}


def hash_or_empty(path: Path) -> str:
    try:
        return sha256_hex(path.read_bytes())
    except OSError:
        return ""
