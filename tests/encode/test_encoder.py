"""Tests for citeqa.encode.bert_numpy: the numpy BERT encoder against sentence-transformers, bulk path, model choice.

The tests marked ``integration`` load torch and sentence-transformers; the
others use only the numpy encoder (the bundled weights load in well under a second).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import citeqa.encode.bert_numpy as encoder_module
from citeqa.config import BASE_MODEL, DEFAULT_MODEL, Settings
from citeqa.encode.bert_numpy import BertEncoder
from citeqa.encode.bert_torch import native_bf16, torch_available
from citeqa.encode.embedder import (
    HashEmbedder,
    PrecomputedEmbedder,
    SentenceTransformerEmbedder,
    make_embedder,
    model_folder,
)
from citeqa.encode.weights import unsupported_reason
from citeqa.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]
SEED_DOC = (ROOT / "corpus" / "eu_china_expert_groups.txt").read_text(encoding="utf-8")

TEXTS = [
    "What is ICT?",
    "Which Chinese ministries worked with the European Commission to create the expert groups?",
    "  leading and trailing whitespace\tand tabs\n",
    "Ünïcödé — «quotes», 中文字符, 日本語のテキスト, Ελληνικά, emoji 🤖👍 and an unknown glyph \u2603",
    "",
    "a",
    " ".join(["long"] * 400),  # far past 256 tokens: truncated like sentence-transformers
    SEED_DOC,  # a whole document: truncated too
    SEED_DOC[:700],
    "x" * 1000,  # one very long word
    "Numbers 1,234.56 and dates 2024-05-01, URLs https://example.org/a?b=c, e-mail a.b@c.de.",
]


@pytest.fixture(scope="module")
def bundled() -> Path:
    folder = model_folder(BASE_MODEL)  # sentence-transformers loads it whole (the trained one shares its path)
    assert folder is not None
    return folder


@pytest.fixture(scope="module")
def enc(bundled: Path) -> BertEncoder:
    return BertEncoder(bundled)


@pytest.fixture(scope="module")
def st_model(bundled: Path):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(bundled), device="cpu")


def test_bundled_model_is_supported(bundled: Path) -> None:
    assert unsupported_reason(bundled) is None


def test_make_embedder_picks_the_numpy_encoder_for_bert_folders(bundled: Path, tmp_path: Path) -> None:
    assert isinstance(make_embedder(DEFAULT_MODEL), BertEncoder)
    assert isinstance(make_embedder(str(bundled)), BertEncoder)
    assert isinstance(make_embedder("hash"), HashEmbedder)
    assert isinstance(make_embedder("sentence-transformers/some-hub-model"), SentenceTransformerEmbedder)
    other = _copy_model(bundled, tmp_path)
    pooling = other / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**cfg, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert "pooling" in (unsupported_reason(other) or "")
    assert isinstance(make_embedder(str(other)), SentenceTransformerEmbedder)


def _copy_model(bundled: Path, tmp_path: Path) -> Path:
    """A copy of the bundled folder with the big files linked, not copied."""
    dst = tmp_path / "model"
    shutil.copytree(bundled, dst, ignore=shutil.ignore_patterns("model.safetensors"))
    (dst / "model.safetensors").symlink_to(bundled / "model.safetensors")
    return dst


@pytest.mark.parametrize(
    ("file", "change", "reason"),
    [
        ("config.json", {"model_type": "roberta"}, "model type"),
        ("config.json", {"hidden_act": "relu"}, "activation"),
        ("sentence_bert_config.json", {"do_lower_case": True}, "do_lower_case"),
    ],
)
def test_unsupported_folders_say_why(bundled: Path, tmp_path: Path, file: str, change: dict, reason: str) -> None:
    other = _copy_model(bundled, tmp_path)
    cfg = json.loads((other / file).read_text())
    (other / file).write_text(json.dumps({**cfg, **change}))
    assert reason in (unsupported_reason(other) or "")
    with pytest.raises(ValueError, match=reason):
        BertEncoder(other)


def test_damaged_weights_raise_model_error(bundled: Path, tmp_path: Path) -> None:
    other = _copy_model(bundled, tmp_path)
    (other / "model.safetensors").unlink()
    (other / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(ModelError):
        BertEncoder(other).embed(["hello"])


def test_vectors_are_normalised_float32_rows(enc: BertEncoder) -> None:
    vecs = enc.embed(TEXTS)
    assert vecs.dtype == np.float32 and vecs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert enc.embed([]).shape == (0, 384)


def test_a_text_gets_the_same_vector_alone_and_in_any_batch(enc: BertEncoder) -> None:
    together = enc.embed(TEXTS)
    alone = np.vstack([enc.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    small_batches = BertEncoder(enc.folder, token_budget=300).embed(TEXTS)
    np.testing.assert_allclose(together, small_batches, atol=1e-5)


def test_long_texts_are_truncated_to_256_tokens(enc: BertEncoder) -> None:
    ids = enc.tokenize([" ".join(["long"] * 400), "short"])
    assert len(ids[0]) == 256 and ids[0][0] == 101 and ids[0][-1] == 102
    assert ids[1] == [101, 2460, 102]
    longer = enc.embed([" ".join(["long"] * 400), " ".join(["long"] * 800)])
    np.testing.assert_allclose(longer[0], longer[1], atol=1e-6)


def test_bulk_path_falls_back_to_float32_for_small_jobs(enc: BertEncoder) -> None:
    np.testing.assert_array_equal(enc.embed_many(TEXTS[:3]), enc.embed(TEXTS[:3]))


@pytest.mark.integration
def test_same_tokens_as_sentence_transformers(enc: BertEncoder, st_model) -> None:
    theirs = st_model.preprocess(TEXTS)["input_ids"].tolist()
    assert [[t for t in row if t != 0] for row in theirs] == enc.tokenize(TEXTS)


@pytest.mark.integration
def test_same_vectors_as_sentence_transformers(enc: BertEncoder, st_model) -> None:
    ref = st_model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    mine = enc.embed(TEXTS)
    assert np.abs(mine - ref).max() < 1e-4
    assert (mine * ref).sum(axis=1).min() > 0.9999


@pytest.mark.integration
@pytest.mark.skipif(not (native_bf16() and torch_available()), reason="needs torch and a CPU with native bfloat16")
def test_bulk_bfloat16_path_agrees_with_float32(enc: BertEncoder, st_model, monkeypatch) -> None:
    """The bulk path's tolerance: cosine > 0.9999 and every coordinate within 5e-3 of sentence-transformers."""
    monkeypatch.setattr(encoder_module, "BULK_MIN", 1)
    texts = [*TEXTS, *(SEED_DOC[i : i + 400] for i in range(0, len(SEED_DOC), 150))]
    ref = st_model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    bulk = enc.embed_many(texts)
    assert bulk.dtype == np.float32 and bulk.shape == ref.shape
    assert (bulk * ref).sum(axis=1).min() > 0.9999
    assert np.abs(bulk - ref).max() < 5e-3


@pytest.mark.integration
def test_ask_imports_no_torch_when_the_index_exists(tmp_path: Path) -> None:
    """`citeqa ask` with a built index never imports torch, transformers, sentence-transformers or gradio."""
    from citeqa.qa import QA

    QA(Settings(corpus_dir=ROOT / "corpus", index_dir=tmp_path / "index")).build()
    code = (
        "import sys; from citeqa.app.cli import main\n"
        f"rc = main(['ask', '--corpus', {str(ROOT / 'corpus')!r}, '--index', {str(tmp_path / 'index')!r},"
        " 'What is ICT?'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'gradio') if m in sys.modules)\n"
        "print('HEAVY', heavy, rc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "HEAVY [] 0" in out.stdout, out.stdout + out.stderr


def test_precomputed_embedder_serves_added_texts_and_passes_the_rest_through() -> None:
    inner = HashEmbedder()
    calls: list[list[str]] = []

    class Counting:
        def embed(self, texts):
            calls.append(list(texts))
            return inner.embed(texts)

        def embed_with_sentences(self, texts, sentences):
            return "extra"

    emb = PrecomputedEmbedder(Counting())
    emb.add(["one question", "another question", "one question"])
    assert calls == [["one question", "another question"]]
    assert np.array_equal(emb.embed(["one question"]), inner.embed(["one question"]))
    assert len(calls) == 1, "an added text comes from the table"
    assert np.array_equal(emb.embed(["new text"]), inner.embed(["new text"])) and len(calls) == 2
    assert emb.embed_many(["a", "b"]).shape == (2, 384) and len(calls) == 3
    assert emb.embed_with_sentences([], []) == "extra", "the inner embedder's extras pass through"
