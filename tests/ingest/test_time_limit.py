"""The per-file time limit: a file still being read after ``file_timeout_s`` is skipped with a warning naming it,
the reading process is stopped, and the rest of the corpus is indexed. Nothing here asserts a time: the slow file
is honest work of seconds against a limit of two, and what is checked is the outcome."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citeqa.app.uploads import save_upload
from citeqa.errors import InputError
from citeqa.ingest.files import FileReader, UnusableFileError, load_corpus, read_document
from citeqa.ingest.isolate import ChildDied, ChildError, Isolated, TimedOut
from docxs import handbook_docx, slow_docx

LIMIT = 2.0  # seconds; slow_docx() takes ~8 s to read on a 2-core Xeon, the handbook ~0.3 s (with its imports)


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slow") / "slow.docx"
    path.write_bytes(slow_docx())
    return path


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_call_past_its_limit_stops_the_child_and_the_next_call_starts_another() -> None:
    with Isolated("time:sleep", LIMIT) as call:
        assert call(0) is None
        first = call._proc.pid  # type: ignore[union-attr]
        with pytest.raises(TimedOut):
            call(3600)
        assert _gone(first)
        assert call(0) is None and call._proc.pid != first  # type: ignore[union-attr]


def test_a_crash_an_exception_and_a_stray_print_in_the_child() -> None:
    with Isolated("os:abort", 30) as call, pytest.raises(ChildDied, match="exit status -6"):
        call()
    with Isolated("math:sqrt", 30) as call:
        with pytest.raises(ChildError, match="ValueError: math domain error") as raised:
            call(-1.0)
        assert raised.value.kind == "ValueError"
        assert call(4.0) == 2.0  # the child lives on after an exception
    with Isolated("builtins:print", 30) as call:
        assert call("x" * 100_000) is None and call("y") is None  # printed to stderr, not into the answer


def test_a_slow_docx_is_skipped_and_the_reader_goes_on(slow: Path, tmp_path: Path) -> None:
    good = tmp_path / "handbook.docx"
    good.write_bytes(handbook_docx())
    with FileReader(timeout_s=LIMIT) as read:
        with pytest.raises(UnusableFileError, match=r"took longer than 2 s to read \(the limit per file"):
            read(slow, "slow.docx")
        assert read(good, "handbook.docx") == read_document(good, "handbook.docx")
    with FileReader(timeout_s=0) as read:  # no limit: read in this process
        assert read(good, "handbook.docx").text == read_document(good, "handbook.docx").text
        assert read._child._proc is None
    with FileReader(timeout_s=LIMIT) as read, pytest.raises(UnusableFileError, match="is empty"):
        (tmp_path / "empty.docx").write_bytes(b" ")
        read(tmp_path / "empty.docx", "empty.docx")  # the child's own refusal comes back as itself


def test_load_corpus_skips_the_slow_file_and_reads_the_rest(slow: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slow.docx").write_bytes(slow.read_bytes())
    (corpus / "handbook.docx").write_bytes(handbook_docx())
    (corpus / "note.txt").write_text("The vault opens at nine.\n", encoding="utf-8")
    docs, skipped = load_corpus(corpus, timeout_s=LIMIT)
    assert [d.path for d in docs] == ["handbook.docx", "note.txt"]
    assert [s.path for s in skipped] == ["slow.docx"] and "took longer than 2 s" in skipped[0].reason


def test_a_fifo_in_the_corpus_is_skipped_not_read_for_ever(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    os.mkfifo(corpus / "pipe.txt")  # nobody writes to it: reading would block for ever
    (corpus / "note.txt").write_text("The vault opens at nine.\n", encoding="utf-8")
    docs, skipped = load_corpus(corpus, timeout_s=0)
    assert [d.path for d in docs] == ["note.txt"]
    assert [(s.path, s.reason) for s in skipped] == [("pipe.txt", "is not a regular file (a pipe, socket or device)")]


def test_an_upload_that_reads_too_long_is_refused_and_not_stored(slow: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    with pytest.raises(InputError, match=r"slow\.docx took longer than 2 s to read .*it was not added"):
        save_upload(slow, corpus, max_bytes=50 * 2**20, timeout_s=LIMIT)
    assert list(corpus.iterdir()) == []


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    return subprocess.run([sys.executable, "-m", "citeqa.app.cli", *argv], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def test_citeqa_index_warns_about_the_slow_file_and_indexes_the_rest(slow: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slow.docx").write_bytes(slow.read_bytes())
    (corpus / "note.txt").write_text("The vault opens at nine.\n", encoding="utf-8")
    common = ["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--model", "hash"]
    done = _cli("index", *common, "--file-timeout", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning: skipped slow.docx: took longer than 2 s to read" in done.stderr
    assert "indexed 1 documents" in done.stdout and "Traceback" not in done.stderr
    again = _cli("index", *common, "--file-timeout", "2", cwd=tmp_path)  # unchanged: not read again
    assert again.returncode == 0 and "index is up to date" in again.stdout, again.stderr
    for bad in ("-1", "nan", "soon"):
        done = _cli("index", *common, "--file-timeout", bad, cwd=tmp_path)
        assert done.returncode == 2 and "--file-timeout" in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_while_a_file_is_read_stops_both_processes_without_a_traceback(slow: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "slow.docx").write_bytes(slow.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    proc = subprocess.Popen([sys.executable, "-m", "citeqa.app.cli", "index", "--corpus", str(corpus), "--index",
                             str(tmp_path / "index"), "--model", "hash", "--file-timeout", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    kids: list[int] = []
    for _ in range(600):  # the reader starts within a second or two; 60 s at most
        if kids := [int(k) for k in children.read_text().split()]:
            break
        time.sleep(0.1)
    assert kids, "the reading process never started"
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert all(_gone(k) for k in kids)


def test_settings_from_the_environment_refuse_a_bad_number(monkeypatch: pytest.MonkeyPatch) -> None:
    from citeqa.config import load_settings

    monkeypatch.setenv("CITEQA_FILE_TIMEOUT", "30")
    assert load_settings().file_timeout_s == 30.0 and load_settings(file_timeout_s=0.0).file_timeout_s == 0.0
    for var, value, message in [("CITEQA_FILE_TIMEOUT", "soon", "CITEQA_FILE_TIMEOUT must be a number"),
                                ("CITEQA_FILE_TIMEOUT", "-5", "must be 0 or more seconds"),
                                ("CITEQA_MIN_CONFIDENCE", "high", "CITEQA_MIN_CONFIDENCE must be a number")]:
        monkeypatch.setenv(var, value)
        with pytest.raises(InputError, match=message):
            load_settings()
        monkeypatch.delenv(var)
