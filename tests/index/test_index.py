"""Tests for citeqa.index.layout: manifest, compatibility checks, incremental builds, damage, locking, swaps."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from citeqa.config import Settings
from citeqa.encode.embedder import HashEmbedder
from citeqa.errors import IndexBusyError, IndexCorruptError, IndexIncompatibleError, IndexMissingError
from citeqa.index.build import BuildReport, build_index
from citeqa.index.layout import (
    FORMAT,
    build_lock,
    current_folder,
    read_manifest,
    stale_files,
)
from citeqa.index.live import load_index
from citeqa.ingest.chunking import chunk_corpus
from citeqa.ingest.files import load_corpus
from citeqa.models import sha256_hex
from citeqa.qa import QA

SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"



class MemoHashEmbedder(HashEmbedder):
    """The hash embedder with its word vectors memoised (same vectors, faster tests)."""

    _memo: dict[str, np.ndarray] = {}  # noqa: RUF012 - a shared cache on purpose

    def _word(self, w: str) -> np.ndarray:
        vec = self._memo.get(w)
        if vec is None:
            vec = self._memo[w] = super()._word(w)
        return vec


EMB = MemoHashEmbedder()

EXTRA_MD = """# Solar Power Notes

Solar panels convert sunlight into electricity. Output peaks at noon.

## Storage

Batteries store the surplus for the night. Lithium cells dominate the market.
"""
EXTRA_TXT = """Harbour Report

The harbour was dredged in 1998. Ships of deeper draught could then dock.

Fishing boats still use the northern quay. The ferry leaves at seven.
"""


@pytest.fixture()
def settings(fake_settings: Settings) -> Settings:
    """The seed corpus plus two more files."""
    (fake_settings.corpus_dir / "solar.md").write_text(EXTRA_MD, encoding="utf-8")
    (fake_settings.corpus_dir / "notes").mkdir()
    (fake_settings.corpus_dir / "notes" / "harbour.txt").write_text(EXTRA_TXT, encoding="utf-8")
    return fake_settings


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A corpus (seed plus extras) and its built index, never modified: copy it with ``built``."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(SEED_CORPUS, root / "corpus")
    (root / "corpus" / "solar.md").write_text(EXTRA_MD, encoding="utf-8")
    (root / "corpus" / "notes").mkdir()
    (root / "corpus" / "notes" / "harbour.txt").write_text(EXTRA_TXT, encoding="utf-8")
    s = Settings(corpus_dir=root / "corpus", index_dir=root / "index", model="hash")
    build_index(s, EMB)
    return s


@pytest.fixture()
def built(tmp_path: Path, pristine: Settings) -> Settings:
    """A private copy of the pristine corpus and index (modification times kept, so it is up to date)."""
    s = replace(pristine, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    shutil.copytree(pristine.corpus_dir, s.corpus_dir)
    shutil.copytree(pristine.index_dir, s.index_dir)
    return s


def _build(settings: Settings) -> BuildReport:
    return build_index(settings, EMB)


def _texts(settings: Settings) -> tuple[list[str], list[str]]:
    """What a build embeds: chunk embed texts and sentence texts."""
    docs, _ = load_corpus(settings.corpus_dir)
    chunks = chunk_corpus(docs, settings.chunk_chars, settings.chunk_overlap_sentences)
    sents = [c.sentence_embed_text(i) for c in chunks for i in range(len(c.sentences))]
    return [c.embed_text for c in chunks], sents


def _live(settings: Settings) -> Path:
    folder = current_folder(settings.index_dir)
    assert folder is not None
    return folder


# --- manifest -------------------------------------------------------------------


def test_manifest_contents(settings: Settings) -> None:
    report = _build(settings)
    assert not report.up_to_date
    m = read_manifest(settings.index_dir)
    assert m is not None
    assert m["format"] == FORMAT
    assert m["model"] == "hash"
    assert m["dimension"] == 384
    assert m["chunking"] == {"chunk_chars": 700, "chunk_overlap_sentences": 0}
    assert m["index_type"] == "flat"
    assert set(m["files"]) == {"eu_china_expert_groups.txt", "solar.md", "notes/harbour.txt"}
    for rel, info in m["files"].items():
        path = settings.corpus_dir / rel
        assert info["sha256"] == sha256_hex(path.read_bytes())
        assert info["size"] == path.stat().st_size
        assert info["mtime_ns"] == path.stat().st_mtime_ns
    chunk_texts, sent_texts = _texts(settings)
    assert m["counts"] == {"documents": 3, "chunks": len(chunk_texts), "sentences": len(sent_texts)}
    assert report.documents == 3 and report.chunks == len(chunk_texts) and report.sentences == len(sent_texts)
    assert m["skipped"] == [] and report.skipped == ()


def test_manifest_records_skipped_files(settings: Settings) -> None:
    (settings.corpus_dir / "empty.txt").write_text("", encoding="utf-8")
    report = _build(settings)
    assert report.skipped == (("empty.txt", "is empty"),)
    m = read_manifest(settings.index_dir)
    assert m["skipped"] == [{"path": "empty.txt", "reason": "is empty"}]
    assert "empty.txt" in m["skipped_files"] and "empty.txt" not in m["files"]
    assert _build(settings).up_to_date, "a skipped file does not make the index stale"


# --- loading and compatibility ------------------------------------------------------


def test_load_round_trip(built: Settings) -> None:
    idx = load_index(built)
    chunk_texts, sent_texts = _texts(built)
    assert idx.store.n_chunks == idx.dense.ntotal == idx.bm25.n_docs == len(chunk_texts)
    assert idx.store.n_sentences == len(idx.sentence_vectors) == len(sent_texts)
    assert sorted(p for p, _, _ in idx.store.documents()) == ["eu_china_expert_groups.txt", "notes/harbour.txt",
                                                               "solar.md"]
    doc = idx.store.document("solar.md")
    assert doc is not None and doc.text == EXTRA_MD and doc.format == "md"
    assert idx.store.document("nope.txt") is None
    for row, (chunk, lo, hi) in idx.store.chunks(range(idx.store.n_chunks)).items():
        assert idx.store.document(chunk.doc).text[chunk.start : chunk.end] == chunk.text
        assert hi - lo == len(chunk.sentences) and row >= 0
    idx.store.close()


def test_missing_index(settings: Settings) -> None:
    with pytest.raises(IndexMissingError, match="citeqa index"):
        load_index(settings)
    settings.index_dir.mkdir()
    (settings.index_dir / "CURRENT").write_text("data-gone\n", encoding="utf-8")
    with pytest.raises(IndexMissingError):
        load_index(settings)


@pytest.mark.parametrize(
    "change",
    [{"model": "hash:64"}, {"model": "other-model"}, {"chunk_chars": 500}, {"chunk_overlap_sentences": 1}],
    ids=["model-dim", "model", "chunk_chars", "overlap"],
)
def test_load_refuses_other_settings(built: Settings, change: dict) -> None:
    with pytest.raises(IndexIncompatibleError, match="Run `citeqa index`") as err:
        load_index(replace(built, **change))
    assert str(next(iter(change.values()))) in str(err.value)


def test_load_refuses_other_format(built: Settings) -> None:
    path = _live(built) / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    m["format"] = FORMAT + 1
    path.write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexIncompatibleError, match="format"):
        load_index(built)
    assert not _build(built).up_to_date, "an index of another format is rebuilt"
    load_index(built).store.close()


def test_other_settings_rebuild(built: Settings) -> None:
    other = replace(built, chunk_chars=300)
    report = _build(other)
    assert not report.up_to_date
    assert read_manifest(built.index_dir)["chunking"]["chunk_chars"] == 300
    load_index(other).store.close()


# --- incremental builds -----------------------------------------------------------


def test_rebuild_with_nothing_changed_is_up_to_date(settings: Settings) -> None:
    first = _build(settings)
    live = _live(settings)
    again = _build(settings)
    assert again.up_to_date and again.embedded == 0 and again.reused == 0
    assert (again.documents, again.chunks, again.sentences) == (first.documents, first.chunks, first.sentences)
    assert _live(settings) == live


def test_first_build_embeds_each_distinct_text_once(settings: Settings) -> None:
    report = _build(settings)
    chunk_texts, sent_texts = _texts(settings)
    distinct = len(set(chunk_texts)) + len(set(sent_texts) - set(chunk_texts))
    assert report.embedded == distinct
    assert report.embedded + report.reused == len(chunk_texts) + len(sent_texts)


def test_changing_one_file_reembeds_only_changed_texts(built: Settings) -> None:
    old_chunks, old_sents = _texts(built)
    old_ids = {c.id for c in load_index(built).store.chunks(range(len(old_chunks))).values() for c in [c[0]]}
    path = built.corpus_dir / "notes" / "harbour.txt"
    path.write_text(EXTRA_TXT.replace("The ferry leaves at seven.", "The ferry now leaves at eight."),
                    encoding="utf-8")
    assert stale_files(read_manifest(built.index_dir), built.corpus_dir) == ["notes/harbour.txt"]
    report = _build(built)
    new_chunks, new_sents = _texts(built)
    seen = set(old_chunks) | set(old_sents)
    expected = len(set(new_chunks) - seen) + len(set(new_sents) - seen - set(new_chunks))
    assert not report.up_to_date
    assert 0 < report.embedded == expected <= 3
    assert report.reused > 0 and report.embedded + report.reused == len(new_chunks) + len(new_sents)
    idx = load_index(built)
    new_ids = {c.id: c for c, _, _ in idx.store.chunks(range(idx.store.n_chunks)).values()}
    kept = {i for i, c in new_ids.items() if c.doc != "notes/harbour.txt"}
    assert kept <= old_ids, "chunk ids of unchanged files survive a rebuild"
    assert idx.store.document("notes/harbour.txt").text.endswith("The ferry now leaves at eight.\n")
    idx.store.close()


def test_removing_a_file_drops_it(built: Settings) -> None:
    (built.corpus_dir / "solar.md").unlink()
    assert stale_files(read_manifest(built.index_dir), built.corpus_dir) == ["solar.md"]
    report = _build(built)
    assert not report.up_to_date and report.documents == 2 and report.embedded == 0
    m = read_manifest(built.index_dir)
    assert "solar.md" not in m["files"]
    idx = load_index(built)
    assert idx.store.document("solar.md") is None
    assert all(c.doc != "solar.md" for c, _, _ in idx.store.chunks(range(idx.store.n_chunks)).values())
    assert "solar" not in idx.bm25.vocab
    idx.store.close()


def test_stale_files_detects_add_remove_modify(built: Settings) -> None:
    m = read_manifest(built.index_dir)
    corpus = built.corpus_dir
    assert stale_files(m, corpus) == []
    (corpus / "new.txt").write_text("A brand new file.", encoding="utf-8")
    (corpus / "solar.md").unlink()
    harbour = corpus / "notes" / "harbour.txt"
    harbour.write_text(EXTRA_TXT + "One more line.\n", encoding="utf-8")
    (corpus / "ignored.odt").write_text("not a supported type", encoding="utf-8")
    assert stale_files(m, corpus) == ["new.txt", "notes/harbour.txt", "solar.md"]


def test_stale_files_ignores_touch_without_change(built: Settings) -> None:
    m = read_manifest(built.index_dir)
    path = built.corpus_dir / "solar.md"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert stale_files(m, built.corpus_dir) == []
    # Same size, new mtime, other bytes: found by the hash.
    path.write_text(EXTRA_MD.replace("noon", "nOOn"), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert stale_files(m, built.corpus_dir) == ["solar.md"]


def test_stale_files_when_corpus_is_gone(built: Settings) -> None:
    m = read_manifest(built.index_dir)
    assert stale_files(m, built.corpus_dir.parent / "nowhere") == sorted(m["files"])


# --- damage ---------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 9 // 10])


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: _truncate(f / "dense.faiss"),
        lambda f: (f / "dense.faiss").unlink(),
        lambda f: (f / "store.sqlite").write_bytes(b"this is not a database" * 100),
        lambda f: _truncate(f / "store.sqlite"),
        lambda f: (f / "store.sqlite").unlink(),
        lambda f: (f / "manifest.json").write_text("{garbage", encoding="utf-8"),
        lambda f: (f / "manifest.json").write_text("[1, 2]", encoding="utf-8"),
        lambda f: (f / "manifest.json").unlink(),
        lambda f: _truncate(f / "sentences.npy"),
        lambda f: (f / "sentences.npy").write_bytes(b""),
        lambda f: _truncate(f / "bm25.npz"),
        lambda f: (f / "bm25.npz").write_bytes(b""),
        lambda f: (f / "bm25_vocab.json").write_text("[", encoding="utf-8"),
    ],
    ids=["faiss-truncated", "faiss-missing", "sqlite-garbage", "sqlite-truncated", "sqlite-missing",
         "manifest-garbage", "manifest-not-object", "manifest-missing", "sentences-truncated", "sentences-empty",
         "bm25-truncated", "bm25-empty", "vocab-garbage"],
)
def test_damaged_index_is_reported_not_a_crash(built: Settings, damage: Callable[[Path], object]) -> None:
    damage(_live(built))
    with pytest.raises(IndexCorruptError, match="citeqa index"):
        load_index(built)


@pytest.mark.parametrize("name", ["dense.faiss", "store.sqlite", "sentences.npy", "bm25.npz"])
def test_index_command_repairs_a_damaged_index(built: Settings, name: str) -> None:
    _truncate(_live(built) / name)
    with pytest.raises(IndexCorruptError):
        load_index(built)
    report = _build(built)
    assert not report.up_to_date, "a damaged index is rebuilt, not reported up to date"
    assert report.embedded == 0, "the embedding cache survives"
    idx = load_index(built)
    assert idx.store.n_chunks == report.chunks
    idx.store.close()


def test_inconsistent_counts_are_corrupt(built: Settings) -> None:
    path = _live(built) / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    m["counts"]["chunks"] += 1
    path.write_text(json.dumps(m), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        load_index(built)


# --- locking, crashes and swaps ------------------------------------------------------


def test_second_build_while_locked_is_busy(settings: Settings) -> None:
    with build_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match="another `citeqa index`"):
            _build(settings)
    _build(settings)  # the lock is released


def test_leftover_build_folder_is_cleaned_and_old_index_still_loads(built: Settings) -> None:
    live = _live(built)
    crashed = built.index_dir / ".build-deadbeef0000"
    crashed.mkdir()
    (crashed / "store.sqlite").write_bytes(b"half written")
    idx = load_index(built)
    assert idx.folder == live
    idx.store.close()
    _build(built)
    assert not crashed.exists()
    assert _live(built) == live


def test_leftover_build_folder_is_cleaned_by_a_real_rebuild(built: Settings) -> None:
    crashed = built.index_dir / ".build-0123456789ab"
    crashed.mkdir()
    (built.corpus_dir / "new.txt").write_text("A brand new file about kites.", encoding="utf-8")
    assert not _build(built).up_to_date
    assert not crashed.exists()
    load_index(built).store.close()


def test_old_data_folders_are_removed_after_swap(built: Settings) -> None:
    first = _live(built)
    (built.corpus_dir / "new.txt").write_text("A brand new file about kites.", encoding="utf-8")
    _build(built)
    second = _live(built)
    assert second != first and not first.exists()
    data = sorted(p.name for p in built.index_dir.iterdir() if p.is_dir())
    assert data == [second.name]
    assert (built.index_dir / "CURRENT").read_text(encoding="utf-8").strip() == second.name
    assert not [p for p in built.index_dir.iterdir() if ".tmp-" in p.name]


def test_qa_keeps_serving_across_a_rebuild(settings: Settings) -> None:
    qa = QA(settings, EMB)
    qa.build()
    before = qa.ask("When was the harbour dredged?", min_confidence=0.0)
    assert "1998" in before.answer
    (settings.corpus_dir / "kites.txt").write_text("Kites were flown on the beach in 2020.", encoding="utf-8")
    assert qa.stale_files() == ["kites.txt"]
    assert not qa.build().up_to_date
    assert qa.stale_files() == []
    after = qa.ask("When were kites flown on the beach?", min_confidence=0.0)
    assert "2020" in after.answer


def test_index_folder_layout_has_no_pickles(built: Settings) -> None:
    names = {p.relative_to(built.index_dir).as_posix() for p in built.index_dir.rglob("*")}
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".joblib"))]
    live = _live(built).name
    assert {n.split("/")[-1] for n in names if n.startswith(live + "/")} == {
        "manifest.json", "store.sqlite", "dense.faiss", "sentences.npy", "bm25.npz", "bm25_vocab.json", "order.npy",
        "dead.npy", "tokens.npy", "token_scales.npy", "token_spans.npy", "token_ptr.npy", "token_projection.npy"}
    assert {"CURRENT", "embeddings.sqlite", ".lock"} <= names
    for path in built.index_dir.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:2]
            assert head != b"\x80\x04" and head != b"\x80\x05", f"{path.name} looks like a pickle"
