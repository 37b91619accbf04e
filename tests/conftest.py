"""Shared fixtures: a fake-embedder QA for fast tests, a real-model QA for integration tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from citeqa.config import Settings
from citeqa.qa import QA

ROOT = Path(__file__).resolve().parents[1]
SEED_CORPUS = ROOT / "corpus"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _no_fsync(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip disk syncs in tests (they cost seconds on a busy disk and prove nothing without a power cut).

    Tests marked ``durable`` (crash tests) keep the real ``os.fsync``.
    """
    if request.node.get_closest_marker("durable") is None:
        monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no CITEQA_* settings from the shell that runs them."""
    for var in ("CITEQA_CORPUS", "CITEQA_INDEX", "CITEQA_MODEL", "CITEQA_MIN_CONFIDENCE", "CITEQA_SENTENCE_VECTORS",
                "CITEQA_FILE_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture()
def seed_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(SEED_CORPUS, dst)
    return dst


@pytest.fixture()
def dirs(seed_copy: Path, tmp_path: Path) -> list[str]:
    """CLI options for a copy of the seed corpus, a fresh index and the hash embedder."""
    return ["--corpus", str(seed_copy), "--index", str(tmp_path / "index"), "--model", "hash"]


@pytest.fixture()
def fake_settings(tmp_path: Path, seed_copy: Path) -> Settings:
    """Settings over a copy of the seed corpus with the deterministic hash embedder."""
    return Settings(corpus_dir=seed_copy, index_dir=tmp_path / "index", model="hash")


@pytest.fixture()
def fake_qa(fake_settings: Settings) -> QA:
    """A QA over the seed corpus, index built, with the hash embedder (fast)."""
    qa = QA(fake_settings)
    qa.build()
    return qa


@pytest.fixture(scope="session")
def seed_qa(tmp_path_factory: pytest.TempPathFactory) -> QA:
    """A read-only QA over the seed corpus with the hash embedder, built once per session."""
    qa = QA(Settings(corpus_dir=SEED_CORPUS, index_dir=tmp_path_factory.mktemp("seed") / "index", model="hash"))
    qa.build()
    return qa


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-index")


@pytest.fixture(scope="session")
def real_qa(real_index_dir: Path) -> QA:
    """A QA over the seed corpus with the real bundled model, built once per session."""
    qa = QA(Settings(corpus_dir=SEED_CORPUS, index_dir=real_index_dir))
    qa.build()
    return qa
