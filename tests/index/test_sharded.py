"""A sharded index answers exactly like one index of the same files (hash embedder; the real model in
tests/cluster with Ray)."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from citeqa.config import Settings
from citeqa.index.bm25 import BM25, build_shards
from citeqa.index.live import load_index
from citeqa.index.sharded import ShardedIndex, shard_bounds
from citeqa.qa import QA

ROOT = Path(__file__).resolve().parents[2]
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
WORDS = ("harbour lighthouse keeper ferry island museum bridge tower canal market river station garden "
         "library theatre council school mill quarry orchard").split()


def generated_corpus(folder: Path, n: int = 40, seed: int = 0) -> list[str]:
    """``n`` small distinct documents (plus the seed document), and one question about each."""
    rng = random.Random(seed)
    shutil.copytree(ROOT / "corpus", folder)
    questions = []
    for i in range(n):
        a, b = rng.sample(WORDS, 2)
        year, name = 1800 + rng.randrange(200), f"Place{i:03d}"
        text = (f"# The {a} of {name}\n\nThe {a} of {name} was built in {year} by the {b} guild. "
                f"It stands {rng.randrange(2, 90)} metres from the old {b}.\n\n## Later years\n\n"
                f"In {year + 50} the {a} of {name} was rebuilt after a storm. Visitors count {rng.randrange(999)} "
                f"a day in summer.\n")
        (folder / f"doc{i:03d}.md").write_text(text, encoding="utf-8")
        questions.append(f"When was the {a} of {name} built?")
    return questions


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[QA, QA, list[str]]:
    root = tmp_path_factory.mktemp("sharded")
    questions = generated_corpus(root / "corpus")
    questions += [json.loads(line)["q"] for line in SEED_QA.read_text().splitlines() if line.strip()]
    base = Settings(corpus_dir=root / "corpus", index_dir=root / "one", model="hash")
    one, three = QA(base), QA(replace(base, index_dir=root / "three", shards=3))
    assert not one.build().up_to_date
    report = three.build()
    assert report.shards == 3 and report.chunks == one.build().chunks
    return one, three, questions


def test_a_sharded_index_answers_exactly_like_one_index(twins: tuple[QA, QA, list[str]]) -> None:
    one, three, questions = twins
    assert isinstance(three.index, ShardedIndex) and len(three.index.shards) == 3
    assert sorted(three.documents()) == sorted(one.documents())
    for q in questions:
        for kwargs in ({}, {"k": 8, "min_confidence": 0.0}, {"mode": "bm25"}, {"mode": "dense"}):
            assert three.ask(q, **kwargs).to_dict() == one.ask(q, **kwargs).to_dict(), (q, kwargs)
        assert three.search(q) == one.search(q)


def test_shards_hold_runs_of_whole_documents(twins: tuple[QA, QA, list[str]]) -> None:
    _, three, _ = twins
    idx = three.index
    assert isinstance(idx, ShardedIndex)
    docs_per_shard = [{p for p, _, _ in s.store.documents()} for s in idx.shards]
    assert sum(len(d) for d in docs_per_shard) == len(three.documents())
    assert not set.intersection(*docs_per_shard), "a document lives in one shard"
    assert np.array_equal(idx.order, np.arange(len(idx.order))), "global rows are in corpus order"
    chunks = [s.store.n_chunks for s in idx.shards]
    assert max(chunks) - min(chunks) <= max(chunks) // 2, chunks


def test_the_index_is_up_to_date_until_the_corpus_or_the_shard_count_changes(twins: tuple[QA, QA, list[str]]
                                                                              ) -> None:
    _, three, _ = twins
    assert three.build().up_to_date
    again = QA(replace(three.settings, shards=2)).build()
    assert not again.up_to_date and again.shards == 2 and again.embedded == 0, "vectors come from the cache"
    assert isinstance(load_index(replace(three.settings, shards=1)), ShardedIndex), "any shard count loads"


def test_bm25_shards_score_like_one_index() -> None:
    texts = [f"alpha beta {'gamma ' * (i % 4)}delta{i % 7} epsilon{i % 3}" for i in range(30)]
    whole = BM25.build(texts)
    shards, vocab, df = build_shards(texts, [(0, 11), (11, 12), (12, 30)])
    for query in (["alpha"], ["gamma", "delta3"], ["epsilon1", "gamma", "gamma"], ["missing"]):
        got = np.concatenate([s.scores(query) for s in shards])
        assert np.array_equal(got, whole.scores(query)), query
    assert {t: int(df[i]) for t, i in vocab.items()} == {
        t: int(whole.indptr[i + 1] - whole.indptr[i]) for t, i in whole.vocab.items()}


def test_shard_bounds_are_contiguous_and_balanced() -> None:
    assert shard_bounds([5, 5, 5, 5], 2) == [(0, 2), (2, 4)]
    assert shard_bounds([1, 1, 10, 1], 3) == [(0, 2), (2, 3), (3, 4)]
    assert shard_bounds([3], 4) == [(0, 1)], "never more shards than documents"
