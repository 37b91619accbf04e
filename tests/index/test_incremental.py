"""Incremental index updates: only changed files are read and embedded, and the result answers like a fresh build."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from citeqa.answer.retrieve import retrieve
from citeqa.config import Settings
from citeqa.encode.embedder import HashEmbedder
from citeqa.index.build import build_index
from citeqa.index.layout import LoadedIndex
from citeqa.index.live import load_index
from citeqa.index.update import MAX_DEAD
from citeqa.ingest.terms import terms
from citeqa.qa import QA

EMB = HashEmbedder()
TOPICS = ["harbour", "orchard", "glacier", "railway", "library", "vineyard", "lighthouse", "observatory",
          "brewery", "aqueduct", "monastery", "canal"]
QUESTIONS = [
    "When was the harbour dredged?",
    "Who founded the observatory?",
    "What did the EU-China IoT Advisory Group discuss?",
    "How long is the canal?",
    "Which year did the railway open?",
    "What grows in the orchard?",
]


def _doc(topic: str, n: int, extra: str = "") -> str:
    return (f"{topic.title()} history\n\nThe {topic} was founded by Ada {topic.title()}son in {1800 + n}. "
            f"It is {n + 3} kilometres from the old town. Visitors come to the {topic} every spring.\n\n"
            f"Later years\n\nIn {1900 + n} the {topic} was rebuilt after a fire. {extra}\n")


@pytest.fixture()
def corpus(seed_copy: Path) -> Path:
    for n, topic in enumerate(TOPICS):
        (seed_copy / f"{topic}.txt").write_text(_doc(topic, n), encoding="utf-8")
    return seed_copy


@pytest.fixture()
def settings(corpus: Path, tmp_path: Path) -> Settings:
    s = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash")
    assert not build_index(s, EMB).incremental
    return s


def _fresh(settings: Settings, tmp_path: Path) -> Settings:
    """A full build of the same corpus in another index folder."""
    other = replace(settings, index_dir=tmp_path / "fresh")
    report = build_index(other, EMB)
    assert not report.incremental and not report.up_to_date
    return other


def _by_id(idx: LoadedIndex) -> dict[str, tuple]:
    rows = [int(r) for r in np.flatnonzero(idx.order < len(idx.order))]
    found = idx.store.chunks(rows)
    return {c.id: (c, np.asarray(idx.sentence_vectors[lo:hi], dtype=np.float32), r) for r, (c, lo, hi) in found.items()}


def _passages(idx: LoadedIndex, q: str, mode: str) -> list[tuple]:
    got = retrieve(idx, q, EMB.embed([q])[0], 5, mode)
    return [(p.chunk.id, round(p.score, 6), round(p.dense_score or 0, 5), round(p.bm25_score or 0, 4))
            for p in got.passages]


def _change(corpus: Path) -> None:
    (corpus / "harbour.txt").write_text(_doc("harbour", 0, "The harbour was dredged in 1998."), encoding="utf-8")
    (corpus / "canal.txt").unlink()
    (corpus / "sub").mkdir()
    (corpus / "sub" / "bridge.md").write_text("# Bridge\n\nThe bridge over the canal is 40 metres long.\n",
                                              encoding="utf-8")


def test_update_reads_only_changed_files_and_ranks_like_a_fresh_build(settings: Settings, tmp_path: Path) -> None:
    _change(settings.corpus_dir)
    report = build_index(settings, EMB)
    assert report.incremental and report.changed == 3 and report.documents == len(TOPICS) + 1
    assert 0 < report.embedded <= 12, "only the changed files' chunks and sentences are embedded"
    fresh = _fresh(settings, tmp_path)
    upd, new = load_index(settings), load_index(fresh)
    assert len(upd.dead) > 0 and len(new.dead) == 0
    assert upd.manifest["counts"] == new.manifest["counts"]
    assert upd.manifest["files"] == new.manifest["files"]
    a, b = _by_id(upd), _by_id(new)
    assert a.keys() == b.keys()
    for cid in a:
        assert a[cid][0] == b[cid][0]
        assert np.array_equal(a[cid][1], b[cid][1])
        assert upd.order[a[cid][2]] == new.order[b[cid][2]], "the same place in corpus order"
    assert upd.bm25.vocab.keys() == new.bm25.vocab.keys()
    for q in QUESTIONS:
        qt = terms(q)
        sa, sb = upd.bm25.scores(qt), new.bm25.scores(qt)
        for cid in a:
            assert sa[a[cid][2]] == pytest.approx(sb[b[cid][2]], rel=1e-5, abs=1e-6)
        for mode in ("hybrid", "dense", "bm25"):
            assert _passages(upd, q, mode) == _passages(new, q, mode), (q, mode)
    qa_upd, qa_new = QA(settings, EMB), QA(fresh, EMB)
    for q in [*QUESTIONS, "How long is the bridge over the canal?"]:
        x, y = qa_upd.ask(q), qa_new.ask(q)
        assert (x.answer, x.abstained) == (y.answer, y.abstained)
        assert [replace(c, score=0.0) for c in x.citations] == [replace(c, score=0.0) for c in y.citations]
        # scores sum in another order over other blocks: equal within float32 rounding, not bit for bit
        assert [c.score for c in x.citations] == pytest.approx([c.score for c in y.citations], rel=1e-5, abs=1e-6)
        assert x.confidence == pytest.approx(y.confidence, rel=1e-5, abs=1e-6)


def test_removed_documents_never_come_back(settings: Settings) -> None:
    (settings.corpus_dir / "canal.txt").unlink()
    assert build_index(settings, EMB).incremental
    idx = load_index(settings)
    assert len(idx.dead) > 0 and idx.store.document("canal.txt") is None
    q = "The canal was founded by Ada Canalson"
    for mode in ("hybrid", "dense", "bm25"):
        got = retrieve(idx, q, EMB.embed([q])[0], 50, mode)
        assert got.passages and all(p.chunk.doc != "canal.txt" for p in got.passages)
    assert "canalson" not in idx.bm25.vocab


def test_successive_updates_keep_corpus_order_and_counts(settings: Settings, tmp_path: Path) -> None:
    for n, topic in enumerate(TOPICS[:2]):
        (settings.corpus_dir / f"{topic}.txt").write_text(_doc(topic, n, f"Update {n}."), encoding="utf-8")
        assert build_index(settings, EMB).incremental
    (settings.corpus_dir / "aaa.txt").write_text("Aardvarks arrived in 2001.", encoding="utf-8")
    assert build_index(settings, EMB).incremental
    idx, new = load_index(settings), load_index(_fresh(settings, tmp_path))
    live = np.flatnonzero(idx.order < len(idx.order))
    assert sorted(idx.order[live]) == list(range(idx.store.n_chunks))
    chunks = idx.store.chunks(live)
    in_order = sorted(live, key=lambda r: idx.order[r])
    assert [(chunks[r][0].doc, chunks[r][0].start) for r in in_order] == sorted(
        (c.doc, c.start) for c, _, _ in chunks.values())
    assert idx.manifest["counts"] == new.manifest["counts"]
    assert build_index(settings, EMB).up_to_date


def test_too_many_dead_rows_rebuild_whole(settings: Settings) -> None:
    idx = load_index(settings)
    rows = idx.manifest["positions"]["chunks"]
    for topic in TOPICS:
        (settings.corpus_dir / f"{topic}.txt").write_text(_doc(topic, 7, "Changed."), encoding="utf-8")
    report = build_index(settings, EMB)
    assert len(TOPICS) > MAX_DEAD * rows, "the change must touch more than a quarter of the rows"
    assert not report.incremental
    idx = load_index(settings)
    assert len(idx.dead) == 0 and idx.manifest["positions"]["chunks"] == idx.store.n_chunks


def test_a_duplicate_file_falls_back_to_a_full_build(settings: Settings) -> None:
    shutil.copy(settings.corpus_dir / "orchard.txt", settings.corpus_dir / "a-orchard-copy.txt")
    report = build_index(settings, EMB)
    assert not report.incremental
    assert ("orchard.txt", "duplicate of a-orchard-copy.txt") in report.skipped
    (settings.corpus_dir / "a-orchard-copy.txt").unlink()
    report = build_index(settings, EMB)
    assert not report.incremental and not report.skipped, "the skipped duplicate is indexed again"


def test_unreadable_changed_file_is_skipped_and_its_old_chunks_dropped(settings: Settings) -> None:
    (settings.corpus_dir / "glacier.txt").write_bytes(b"\x00\x01\x02binary")
    report = build_index(settings, EMB)
    assert report.incremental and [p for p, _ in report.skipped] == ["glacier.txt"]
    idx = load_index(settings)
    assert idx.store.document("glacier.txt") is None
    assert build_index(settings, EMB).up_to_date


def test_graph_index_is_updated_in_place_and_skips_dead_rows(corpus: Path, tmp_path: Path) -> None:
    s = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", exact_search_max=4)
    assert build_index(s, EMB).index_type.startswith("hnsw")
    (corpus / "railway.txt").write_text(_doc("railway", 3, "A tunnel opened in 1911."), encoding="utf-8")
    report = build_index(s, EMB)
    assert report.incremental and report.index_type.startswith("hnsw")
    idx = load_index(s)
    q = "When did the tunnel open?"
    hits = retrieve(idx, q, EMB.embed([q])[0], 50, "dense").passages
    ids = {p.chunk.id for p in hits}
    assert len(ids) == len(hits) == idx.store.n_chunks, "every live chunk once, no dead row"


def test_growing_past_exact_search_rebuilds_as_a_graph(settings: Settings) -> None:
    n = load_index(settings).store.n_chunks
    s = replace(settings, exact_search_max=n)
    (settings.corpus_dir / "zoo.txt").write_text("The zoo opened in 1950.", encoding="utf-8")
    report = build_index(s, EMB)
    assert not report.incremental and report.index_type.startswith("hnsw")
