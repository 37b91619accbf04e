"""Crashes and concurrency (issue #6): ``kill -9`` in the middle of ``citeqa index``, two builds at once, readers
during a build, and a long-lived reader (the app) picking up an index rebuilt by another process.

The builds are real subprocesses of the console script with the hash model, over the seed corpus plus a generated
file big enough for a build to take a few seconds. Kills wait for a phase of the build to be visible on disk
(embedding cache growing, a ``.build-*`` folder, ``CURRENT`` swapped), not for a fixed time.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from citeqa.app.cli import main
from citeqa.config import Settings
from citeqa.index.layout import current_folder, read_manifest
from citeqa.index.live import load_index
from citeqa.models import sha256_hex
from citeqa.qa import QA

SEED_DOC = "eu_china_expert_groups.txt"
IOT_Q = "When was the EU-China IoT Advisory Group established?"
IOT_A = "February 2011"
NEEDLE = "The Xylophone Museum of Lund opened its doors in March 1987 with forty instruments."
NEEDLE_Q = "When did the Xylophone Museum of Lund open its doors?"
BUSY = "citeqa: error: another `citeqa index` is building {}; try again when it ends\n"


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citeqa.app.cli"]


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    out.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return out


def write_big_text(path: Path, megabytes: float) -> None:
    """``megabytes`` of generated sentences, :data:`NEEDLE` first."""
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "an", "el", "ur", "is", "om"]
    vocab = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    parts, size, i = [f"Museums\n\n{NEEDLE}\n\n"], 0, 0
    while size < megabytes * 2**20:
        s = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 18))).capitalize() + ". "
        s += "\n\n" if i % 6 == 0 else ""
        parts.append(s)
        size, i = size + len(s), i + 1
    path.write_text("".join(parts), encoding="utf-8")


class Setup:
    """A corpus, its index built over the seed document, and a big file added since."""

    def __init__(self, root: Path, megabytes: float) -> None:
        self.corpus, self.index = root / "corpus", root / "index"
        shutil.copytree(Path(__file__).resolve().parents[2] / "corpus", self.corpus)
        self.args = ["--corpus", str(self.corpus), "--index", str(self.index), "--model", "hash"]
        assert main(["index", *self.args]) == 0
        self.first = current_folder(self.index)
        self.cache_size = (self.index / "embeddings.sqlite").stat().st_size
        write_big_text(self.corpus / "big.txt", megabytes)

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen([*console_script(), "index", *self.args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env())

    def index_run(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*console_script(), "index", *self.args], capture_output=True, text=True, env=env(),
                              timeout=timeout, check=False)
        assert "Traceback" not in done.stderr, done.stderr
        return done


@pytest.fixture()
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts: killed (by pid) if the test ends while they run."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=30)


def wait_for(pred: Callable[[], bool], proc: subprocess.Popen[str] | None = None, timeout: float = 120,
             poll: float = 0.002) -> bool:
    """True once ``pred()`` holds; False if ``proc`` ended first. Fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            return pred()
        time.sleep(poll)
    pytest.fail(f"waited {timeout} s")


def lock_holders(index_dir: Path) -> set[int]:
    """Pids holding a ``flock`` on the index folder's ``.lock`` (read from /proc/locks: probing would take it)."""
    try:
        inode = (index_dir / ".lock").stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    holders = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and "->" not in fields and fields[5].split(":")[-1] == str(inode):
            holders.add(int(fields[4]))
    return holders


def assert_consistent(index_dir: Path, corpus: Path, docs: set[str]) -> None:
    """The live index loads, holds exactly ``docs`` as they are on disk, and nothing else is left behind."""
    s = Settings(corpus_dir=corpus, index_dir=index_dir, model="hash")
    idx = load_index(s)  # checks manifest, chunk store, FAISS, BM25 and sentence vectors agree in size
    try:
        manifest = idx.manifest
        assert set(manifest["files"]) == docs
        assert {p for p, _, _ in idx.store.documents()} == docs
        for rel in docs:
            assert manifest["files"][rel]["sha256"] == sha256_hex((corpus / rel).read_bytes())
            assert idx.store.document(rel).sha256 == manifest["files"][rel]["sha256"]
        texts = {rel: idx.store.document(rel).text for rel in docs}
        for chunk, _, _ in idx.store.chunks(range(idx.store.n_chunks)).values():
            assert texts[chunk.doc][chunk.start : chunk.end] == chunk.text
        assert idx.dense.ntotal == idx.store.n_chunks == manifest["counts"]["chunks"]
    finally:
        idx.store.close()
    leftovers = [p.name for p in index_dir.iterdir() if p.is_dir() and p != current_folder(index_dir)]
    assert leftovers == [], "no half-built or old data folder is left behind"
    con = sqlite3.connect(index_dir / "embeddings.sqlite")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()


def ask(capsys: pytest.CaptureFixture[str], args: list[str], question: str) -> tuple[int, dict, str]:
    capsys.readouterr()  # drop what came before
    code = main(["ask", question, *args, "--json", "--min-confidence", "0"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, (json.loads(out) if out else {}), err


# --- kill -9 during `citeqa index` ---------------------------------------------------------------------------------

PHASES: dict[str, Callable[[Setup], bool]] = {
    # batches of embeddings are being committed to the cache (a batch of 256 sentences, their vectors and
    # their token vectors, is ~1.6 MB with the hash embedder: past 4 MB at least two batches are in)
    "embedding": lambda s: (s.index / "embeddings.sqlite").stat().st_size > s.cache_size + 4 * 2**20,
    # the new data folder is being written beside the live one
    "writing": lambda s: any(p.name.startswith(".build-") for p in s.index.iterdir()),
    # CURRENT points at the new folder; the old one is not yet removed
    "swapping": lambda s: current_folder(s.index) != s.first,
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_kill_9_during_index_keeps_the_previous_index_and_the_next_run_completes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, procs: list, phase: str
) -> None:
    for attempt, megabytes in enumerate((0.2, 0.6, 2.0)):  # bigger if a build is too quick to catch
        setup = Setup(tmp_path / f"try{attempt}", megabytes)
        proc = setup.start()
        procs.append(proc)
        if wait_for(lambda s=setup: PHASES[phase](s), proc) and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            break
        proc.communicate(timeout=60)
    else:
        pytest.fail(f"every build ended before the {phase} phase could be caught")
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    swapped = current_folder(setup.index) != setup.first
    assert swapped == (phase == "swapping")

    # The index that was live when the build died still loads and answers (a stale warning names the new file).
    code, got, err = ask(capsys, setup.args, IOT_Q)
    assert code == 0 and IOT_A in got["answer"]
    if not swapped:
        assert "the index is stale" in err and "big.txt" in err
        idx = load_index(Settings(corpus_dir=setup.corpus, index_dir=setup.index, model="hash"))
        assert idx.folder == setup.first and {p for p, _, _ in idx.store.documents()} == {SEED_DOC}
        idx.store.close()

    # The next run is not blocked by the dead build's lock, reuses what it embedded, and leaves one clean index.
    done = setup.index_run()
    assert done.returncode == 0, done.stderr
    if swapped:
        assert "index is up to date: 2 documents" in done.stdout
    else:
        m = re.search(r"indexed 2 documents into \d+ chunks and \d+ sentences \((\d+) embedded, (\d+) reused",
                      done.stdout)
        assert m, done.stdout
        reused = int(m.group(2)) - 61  # 61 texts of the seed document come from the first build
        assert reused >= (256 if phase == "embedding" else 1000), "embeddings committed before the kill are reused"
    assert_consistent(setup.index, setup.corpus, {SEED_DOC, "big.txt"})
    code, got, _ = ask(capsys, setup.args, NEEDLE_Q)
    assert code == 0 and got["passages"][0]["doc"] == "big.txt" and "1987" in got["passages"][0]["text"]


# --- two builds at once ----------------------------------------------------------------------------------------------


def test_second_index_refuses_while_the_first_builds_and_readers_keep_answering(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, procs: list
) -> None:
    for attempt, megabytes in enumerate((0.3, 1.0, 3.0)):
        setup = Setup(tmp_path / f"try{attempt}", megabytes)
        first = setup.start()
        procs.append(first)
        if not wait_for(lambda s=setup, p=first: p.pid in lock_holders(s.index), first):
            first.communicate(timeout=60)
            continue  # it ended before we saw it hold the lock: try a bigger corpus
        second = setup.index_run(timeout=60)
        code, got, err = ask(capsys, setup.args, IOT_Q)  # a reader is never blocked by a build
        if first.poll() is None:
            break
        first.communicate(timeout=60)
    else:
        pytest.fail("every build ended before a second one could be started")
    assert second.returncode == 5 and second.stdout == ""
    assert second.stderr == BUSY.format(setup.index)
    assert code == 0 and IOT_A in got["answer"] and "the index is stale" in err
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "indexed 2 documents" in out
    assert_consistent(setup.index, setup.corpus, {SEED_DOC, "big.txt"})


def test_simultaneous_index_runs_never_mix(tmp_path: Path, procs: list) -> None:
    setup = Setup(tmp_path, 0.15)
    (setup.corpus / "notes.md").write_text("# Notes\n\nThe harbour was dredged in 1998.\n", encoding="utf-8")
    runs = [setup.start() for _ in range(3)]
    procs.extend(runs)
    results = [p.communicate(timeout=300) for p in runs]
    codes = [p.returncode for p in runs]
    assert set(codes) <= {0, 5} and 0 in codes, results
    for (out, err), code in zip(results, codes, strict=True):
        assert "Traceback" not in err
        if code == 5:
            assert err == BUSY.format(setup.index) and out == ""
    assert_consistent(setup.index, setup.corpus, {SEED_DOC, "big.txt", "notes.md"})
    after = setup.index_run()
    assert after.returncode == 0 and "index is up to date: 3 documents" in after.stdout


# --- a long-lived reader (the app) and builds in other processes -----------------------------------------------------


def test_a_running_app_picks_up_an_index_rebuilt_by_another_process(tmp_path: Path, procs: list) -> None:
    setup = Setup(tmp_path, 0.1)
    qa = QA(Settings(corpus_dir=setup.corpus, index_dir=setup.index, model="hash"))
    assert IOT_A in qa.ask(IOT_Q).answer
    errors: list[str] = []
    answered = [0]
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                assert IOT_A in (qa.ask(IOT_Q, min_confidence=0.0).answer or "")
                answered[0] += 1
            except Exception as exc:  # any failure while the index is swapped under the reader is a bug
                errors.append(repr(exc))

    readers = [threading.Thread(target=keep_asking) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        build = setup.start()
        procs.append(build)
        _, err = build.communicate(timeout=300)
        assert build.returncode == 0, err
        seen = wait_for(lambda: qa.ask(NEEDLE_Q, min_confidence=0.0).passages[0].chunk.doc == "big.txt",
                        timeout=30, poll=0.1)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert seen and errors == [] and answered[0] > 0
    assert qa.index.folder == current_folder(setup.index)


def test_a_rebuild_that_cannot_load_leaves_the_app_answering_from_the_loaded_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    setup = Setup(tmp_path, 0.05)
    qa = QA(Settings(corpus_dir=setup.corpus, index_dir=setup.index, model="hash"))
    assert IOT_A in qa.ask(IOT_Q).answer
    other = [*setup.args[:-1], "hash:32"]  # the same folder rebuilt with another model: this app cannot read it
    assert main(["index", *other]) == 0
    capsys.readouterr()
    time.sleep(1.1)  # the app looks for a new index at most once a second
    assert IOT_A in qa.ask(IOT_Q).answer
    assert qa.index.folder == setup.first
    assert "keeping the loaded index" in caplog.text and "another model" in caplog.text
    assert read_manifest(setup.index)["model"] == "hash:32"
