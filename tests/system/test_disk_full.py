"""A full disk, for real: the index on a small tmpfs (root only; skipped elsewhere)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from citeqa.app import ui
from citeqa.config import Settings
from citeqa.qa import QA

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "citeqa.app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_a_build_on_a_full_disk_exits_74_and_leaves_the_old_index(small_disk: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    index = small_disk / "index"
    assert _cli("index", "--corpus", str(corpus), "--index", str(index), "--model", "hash").returncode == 0
    words = " ".join(f"word{i}" for i in range(4000))
    (corpus / "big.txt").write_text("\n\n".join(f"Paragraph {i}: {words}." for i in range(60)), encoding="utf-8")
    done = _cli("index", "--corpus", str(corpus), "--index", str(index), "--model", "hash")
    assert done.returncode == 74, done.stderr
    assert "disk full" in done.stderr and str(index) in done.stderr and "Traceback" not in done.stderr
    assert not [p for p in index.iterdir() if p.name.startswith(".build-")]
    asked = _cli("ask", "When was the IoT Advisory Group established?", "--corpus", str(corpus), "--index",
                 str(index), "--model", "hash")
    assert "February 2011" in asked.stdout  # the previous index still answers
    (corpus / "big.txt").unlink()
    again = _cli("index", "--corpus", str(corpus), "--index", str(index), "--model", "hash")
    assert again.returncode == 0, again.stderr


def test_an_upload_onto_a_full_disk_says_why(small_disk: Path, tmp_path: Path) -> None:
    corpus = small_disk / "corpus"
    corpus.mkdir()
    (corpus / "seed.txt").write_text((ROOT / "corpus" / "eu_china_expert_groups.txt").read_text(encoding="utf-8"),
                                     encoding="utf-8")
    with open(small_disk / "filler", "wb") as fh:  # fill the disk
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    app = ui.ChatApp(QA(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash")))
    up = tmp_path / "up"
    up.mkdir()
    (up / "notes.txt").write_text("Kites were flown on the beach in 2020.\n", encoding="utf-8")
    app.upload_dir = up
    _, status, _ = app.upload([str(up / "notes.txt")], lambda *a, **k: None)
    assert "could not be stored" in status and "No space left" in status
    assert not (corpus / "notes.txt").exists()
