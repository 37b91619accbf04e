"""Tests for citeqa.encode.pooling (span -> token selection, late-pooled vectors) and
citeqa.index.sentence_vectors (what a build embeds).

Fast: the real tokenizer loads in milliseconds; no model runs here except in
the ``integration`` test that compares the numpy and torch passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

import citeqa.encode.bert_numpy as encoder_module
from citeqa.config import DEFAULT_MODEL, Settings, load_settings
from citeqa.encode.bert_numpy import BertEncoder
from citeqa.encode.bert_torch import native_bf16, torch_available
from citeqa.encode.embedder import HashEmbedder, model_folder
from citeqa.encode.pooling import pool_sentences, span_tokens
from citeqa.errors import IndexIncompatibleError
from citeqa.index.build import build_index
from citeqa.index.layout import check_compatible, read_manifest
from citeqa.index.sentence_vectors import chunk_and_sentence_vectors, sentence_parts
from citeqa.index.store import EmbeddingCache
from citeqa.ingest.chunking import chunk_document
from citeqa.ingest.files import load_corpus
from citeqa.models import Chunk, Document, Span

ROOT = Path(__file__).resolve().parents[2]
SEED_DOC = (ROOT / "corpus" / "eu_china_expert_groups.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    folder = model_folder(DEFAULT_MODEL)
    assert folder is not None
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    return tok


@pytest.fixture(scope="module")
def seed_chunks() -> list[Chunk]:
    docs, _ = load_corpus(ROOT / "corpus")
    return [c for d in docs for c in chunk_document(d)]


# --- span -> tokens -------------------------------------------------------------------


def test_span_tokens_takes_only_tokens_wholly_inside() -> None:
    offsets = np.array([[0, 0], [0, 3], [4, 9], [9, 10], [11, 15], [15, 16], [0, 0]])  # [CLS] … [SEP]
    assert span_tokens(offsets, 4, 10).tolist() == [2, 3]
    assert span_tokens(offsets, 0, 16).tolist() == [1, 2, 3, 4, 5]  # special tokens never count
    assert span_tokens(offsets, 5, 15).tolist() == [3, 4]  # a token straddling a boundary stays out
    assert span_tokens(offsets, 16, 20).tolist() == []


def test_pool_sentences_weights_context_and_leaves_zeros_for_what_it_cannot_cover() -> None:
    offsets = np.array([[0, 0], [0, 5], [6, 10], [11, 15], [16, 20], [0, 0]])
    states = np.array([[9, 9], [1, 0], [3, 0], [0, 2], [0, 4], [9, 9]], dtype=np.float32)
    got = pool_sentences(states, offsets, [[(6, 15, 1.0)], [(6, 15, 1.0), (0, 5, 0.5)], [(30, 40, 1.0)]], False)
    np.testing.assert_allclose(got[0], np.array([1.5, 1.0]) / np.hypot(1.5, 1.0), rtol=1e-6)
    np.testing.assert_allclose(got[1], np.array([2.0, 1.0]) / np.hypot(2.0, 1.0), rtol=1e-6)
    assert not got[2].any(), "a span without tokens gets zeros (embedded separately by the caller)"
    cut = pool_sentences(states, offsets, [[(0, 10, 1.0)], [(16, 25, 1.0)]], truncated=True)
    assert cut[0].any() and not cut[1].any(), "a sentence running past the last kept token is cut off"


def test_each_sentence_pools_exactly_its_own_tokens(tokenizer: Tokenizer, seed_chunks: list[Chunk]) -> None:
    """With the real tokenizer: the tokens chosen for a sentence spell the sentence (whitespace aside)."""
    checked = 0
    for chunk in seed_chunks:
        text = chunk.embed_text
        enc = tokenizer.encode(text)
        if len(enc.ids) >= 256:
            continue
        offsets = np.array(enc.offsets)
        for i, parts in enumerate(sentence_parts(chunk)):
            start, end, weight = parts[0]
            assert weight == 1.0 and text[start:end] == chunk.sentence(i)
            idx = span_tokens(offsets, start, end)
            assert all(start <= offsets[t, 0] < offsets[t, 1] <= end for t in idx)
            assert "".join(text[a:b] for a, b in offsets[idx]) == "".join(chunk.sentence(i).split())
            checked += 1
    assert checked > 20


def test_offsets_are_characters_of_the_original_text(tokenizer: Tokenizer) -> None:
    """Accents, emoji and CJK: offsets index the text as written (the normaliser lowercases and strips accents)."""
    text = "Café Ünïcödé 🤖👍 中文字符 — «quotes». Next sentence here."
    end = text.index(".") + 1
    offsets = np.array(tokenizer.encode(text).offsets)
    idx = span_tokens(offsets, 0, end)
    assert "".join(text[a:b] for a, b in offsets[idx]) == "".join(text[:end].split())
    assert "".join(text[a:b] for a, b in offsets[span_tokens(offsets, end + 1, len(text))]) == "Nextsentencehere."


def test_sentence_parts_name_the_title_and_lead_in() -> None:
    text = "Intro paragraph.\n\nThe groups are:\n- one group\n- another group"
    doc = Document("d.md", text, "txt", "x")
    sents = (Span(0, 16), Span(18, 33), Span(34, 45), Span(46, 61))
    chunk = Chunk(doc.path, "Title", 0, len(text), text, sents)
    parts = sentence_parts(chunk)
    et = chunk.embed_text
    assert [et[a:b] for a, b, _ in parts[2]] == ["- one group", "Title", "The groups are:"]
    assert [et[a:b] for a, b, _ in parts[0]] == ["Intro paragraph.", "Title"]
    assert chunk.lead_in(3) == 1 and chunk.lead_in(1) is None
    assert chunk.sentence_embed_text(3) == "Title — The groups are: — - another group"


# --- the build side ---------------------------------------------------------------------


class LateHash(HashEmbedder):
    """The hash embedder with a late-pooling path: a sentence's vector mixes its chunk's words in."""

    def __init__(self, cut_after: int | None = None) -> None:
        super().__init__(64)
        self.calls: list[int] = []
        self.cut_after = cut_after

    def embed_with_sentences(self, texts: Sequence[str], sentences) -> tuple[np.ndarray, list[np.ndarray]]:
        self.calls.append(len(texts))
        out = []
        for t, sents in zip(texts, sentences):
            rows = self.embed([t[a:b] + " " + t for (a, b, _), *_ in sents])
            for j, ((_, b, _), *_) in enumerate(sents):
                if self.cut_after is not None and b > self.cut_after:
                    rows[j] = 0.0
            out.append(rows)
        return self.embed(texts), out


def _chunks() -> list[Chunk]:
    a = Document("a.txt", "Same sentence here. Apples are red.", "txt", "a")
    b = Document("b.txt", "Same sentence here. Pears are green.", "txt", "b")
    return chunk_document(a) + chunk_document(b)


def test_late_vectors_are_keyed_by_their_chunk_and_cached(tmp_path: Path) -> None:
    chunks = _chunks()
    emb = LateHash()
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    cv, sv, n = chunk_and_sentence_vectors(emb, "m", chunks, cache)
    assert cv.shape == (2, 64) and sv.shape == (4, 64) and n == 6
    assert chunks[0].sentence(0) == chunks[1].sentence(0)
    assert not np.allclose(sv[0], sv[2]), "the same sentence in another chunk gets its own vector"
    cv2, sv2, n2 = chunk_and_sentence_vectors(emb, "m", chunks, cache)
    assert n2 == 0 and emb.calls == [2] and np.array_equal(sv, sv2) and np.array_equal(cv, cv2)
    cache.close()


def test_cut_off_sentences_are_embedded_by_themselves(tmp_path: Path) -> None:
    chunks = _chunks()[:1]
    emb = LateHash(cut_after=20)
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    _, sv, _ = chunk_and_sentence_vectors(emb, "m", chunks, cache)
    np.testing.assert_allclose(sv[1], emb.embed([chunks[0].sentence_embed_text(1)])[0], rtol=1e-6)
    assert np.linalg.norm(sv, axis=1).min() > 0.99
    _, sv2, n2 = chunk_and_sentence_vectors(emb, "m", chunks, cache)
    assert n2 == 0 and np.array_equal(sv, sv2), "the fallback is cached under the late key too"
    cache.close()


def test_embedders_without_late_pooling_and_separate_setting_embed_sentences_alone(tmp_path: Path) -> None:
    chunks = _chunks()
    texts = [c.sentence_embed_text(i) for c in chunks for i in range(len(c.sentences))]
    for emb, how in ((HashEmbedder(64), "late"), (LateHash(), "separate")):
        cache = EmbeddingCache(tmp_path / f"{how}.sqlite")
        _, sv, n = chunk_and_sentence_vectors(emb, "m", chunks, cache, how=how)
        np.testing.assert_allclose(sv, HashEmbedder(64).embed(texts), rtol=1e-6)
        assert n == 2 + 3, "two chunks and three distinct sentence texts"
        cache.close()
    with pytest.raises(ValueError):
        chunk_and_sentence_vectors(LateHash(), "m", chunks, EmbeddingCache(tmp_path / "x.sqlite"), how="other")


def test_the_manifest_records_how_sentence_vectors_were_made(tmp_path: Path, monkeypatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Apples are red. Pears are green.", encoding="utf-8")
    old = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash")
    assert old.sentence_vectors == "separate" and "sentence_vectors" not in old.chunking_key(), "old indexes stay valid"
    build_index(old, HashEmbedder())
    late = old.with_(sentence_vectors="late")
    with pytest.raises(IndexIncompatibleError, match="sentence_vectors"):
        check_compatible(read_manifest(old.index_dir), late)
    assert not build_index(late, HashEmbedder()).up_to_date
    assert read_manifest(late.index_dir)["chunking"]["sentence_vectors"] == "late"
    with pytest.raises(IndexIncompatibleError):
        check_compatible(read_manifest(late.index_dir), old)
    monkeypatch.setenv("CITEQA_SENTENCE_VECTORS", "late")
    assert load_settings().sentence_vectors == "late"


# --- the real encoder: numpy and torch passes agree ------------------------------------------


@pytest.mark.integration
@pytest.mark.skipif(not (native_bf16() and torch_available()), reason="needs torch and a CPU with native bfloat16")
def test_late_pooling_agrees_between_numpy_and_torch_passes(seed_chunks: list[Chunk], monkeypatch) -> None:
    enc = BertEncoder(model_folder(DEFAULT_MODEL))
    chunks = seed_chunks[:12]
    texts = [c.embed_text for c in chunks]
    parts = [sentence_parts(c) for c in chunks]
    monkeypatch.setattr(encoder_module, "BULK_MIN", 10**9)
    cv32, sv32 = enc.embed_with_sentences(texts, parts)
    monkeypatch.setattr(encoder_module, "BULK_MIN", 1)
    cvbf, svbf = enc.embed_with_sentences(texts, parts)
    assert (cv32 * cvbf).sum(axis=1).min() > 0.9999
    np.testing.assert_allclose(cv32, enc.embed(texts), atol=1e-5)
    a, b = np.vstack(sv32), np.vstack(svbf)
    assert np.linalg.norm(a, axis=1).min() > 0.99
    assert (a * b).sum(axis=1).min() > 0.999


def test_numpy_late_pooling_chunk_vectors_match_embed(seed_chunks: list[Chunk]) -> None:
    enc = BertEncoder(model_folder(DEFAULT_MODEL))
    chunks = seed_chunks[:3]
    cv, sv = enc.embed_with_sentences([c.embed_text for c in chunks], [sentence_parts(c) for c in chunks])
    np.testing.assert_allclose(cv, enc.embed([c.embed_text for c in chunks]), atol=1e-5)
    assert [len(m) for m in sv] == [len(c.sentences) for c in chunks]
    assert min(float(np.linalg.norm(r)) for m in sv for r in m) > 0.99
