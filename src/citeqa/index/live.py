"""The live index of an index folder, sharded or not: what :class:`citeqa.qa.QA` answers from."""

from __future__ import annotations

from typing import TypeAlias

from citeqa.config import Settings
from citeqa.index.layout import LoadedIndex, live_manifest, load_folder
from citeqa.index.sharded import ShardedIndex, load_sharded

Index: TypeAlias = LoadedIndex | ShardedIndex


def load_index(settings: Settings) -> Index:
    """Load the live index, refusing one that is missing, damaged or built differently."""
    folder, manifest = live_manifest(settings)
    if manifest.get("shards"):
        return load_sharded(folder, manifest)
    return load_folder(folder, manifest)
