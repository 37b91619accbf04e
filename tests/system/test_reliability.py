"""Issue #6, reliability and security, through the ``citeqa`` command (in-process with the hash model, and a few
real subprocesses): bad questions, bad corpus files, damaged or foreign indexes, hostile uploads, and formats that
must never be loaded. Every case ends in a clear one-line message (never a traceback), the documented exit code,
and nothing lost.

Exit codes: 0 ok; 1 some questions of a stdin batch failed; 2 bad input (question, option, --index path, upload);
3 corpus missing/empty/unreadable; 4 index missing, damaged or built differently; 5 index busy; 74 operating-system
error (disk full, ...); 70 internal error (a bug).
"""

from __future__ import annotations

import ast
import html
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from citeqa.app.cli import main
from citeqa.config import Settings
from citeqa.errors import InputError
from citeqa.index.layout import current_folder, read_manifest
from citeqa.index.store import FeedbackStore
from citeqa.qa import QA, clean_question
from docxs import handbook_docx
from pdfs import blank_pdf, encrypted_pdf, text_pdf

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "citeqa"
SEED_DOC = "eu_china_expert_groups.txt"
IOT_Q = "When was the EU-China IoT Advisory Group established?"
IOT_A = "February 2011"
ANSWER_KEYS = {"question", "answer", "status", "abstained", "confidence", "answer_span", "citations", "passages",
               "follow_up_of"}


@pytest.fixture()
def built(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> list[str]:
    """``dirs`` with its index built."""
    assert run(capsys, "index", *dirs)[0] == 0
    return dirs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``citeqa ARGV`` in-process: (exit code, stdout, stderr); never a traceback."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def assert_error(code: int, err: str, expected_code: int, *fragments: str) -> None:
    """One ``citeqa: error:`` message with all ``fragments`` and the expected exit code."""
    assert code == expected_code, err
    assert err.startswith("citeqa: error: "), err
    for fragment in fragments:
        assert fragment in err, err


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citeqa.app.cli"]


def citeqa(*args: str | bytes, env: dict[str, str] | None = None, stdin: bytes | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The real console script in a subprocess (bytes out: some cases print undecodable input back)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    full_env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **(env or {}))
    done = subprocess.run([*console_script(), *args], input=stdin, capture_output=True, env=full_env,
                          timeout=timeout, check=False)
    assert b"Traceback" not in done.stdout + done.stderr, done.stderr.decode(errors="replace")
    return done


def doc_text(corpus: Path, rel: str) -> str:
    with open(corpus / rel, encoding="utf-8", newline="") as fh:
        return fh.read()


def check_answer(d: dict, question: str, corpus: Path) -> None:
    """The JSON contract, with every citation and passage verbatim in its document."""
    assert set(d) == ANSWER_KEYS
    assert d["question"] == clean_question(question)
    assert isinstance(d["abstained"], bool) and 0.0 <= d["confidence"] <= 1.0
    for item in (*d["citations"], *d["passages"]):
        text = doc_text(corpus, item["doc"])
        quoted = item["quote"] if "quote" in item else item["text"]
        assert text[item["start"] : item["end"]] == quoted
    assert d["abstained"] == (d["status"] != "answered") and (d["answer"] is None) == (d["status"] == "abstained")


# ====================================================================================================================
# Questions
# ====================================================================================================================

INVALID_QUESTIONS = [
    pytest.param("", "the question is empty", id="empty"),
    pytest.param(" \t\n \r ", "the question is empty", id="whitespace"),
    pytest.param("\x00\x01\x07\x1b\x7f", "the question is empty", id="control-chars-only"),
    pytest.param("\u200b\u200e\u202e\ufeff\u2028", "the question is empty", id="invisible-only"),
    pytest.param("?!... ;: -- ()", "no words", id="ascii-punctuation"),
    pytest.param("¿¡…—«»。？！", "no words", id="unicode-punctuation"),
    pytest.param("🤖🎉👍🏽 ❤️", "no words", id="emoji-only"),
    pytest.param("word " * 20_000, "characters long; the limit is 2,000", id="100k-chars"),
]


@pytest.mark.parametrize(("question", "message"), INVALID_QUESTIONS)
def test_invalid_question_is_refused_before_anything_is_built(
    capsys: pytest.CaptureFixture[str], dirs: list[str], tmp_path: Path, question: str, message: str
) -> None:
    code, out, err = run(capsys, "ask", question, *dirs)
    assert_error(code, err, 2, message)
    assert out == "" and err.count("\n") == 1, "one line on stderr, nothing on stdout"
    assert current_folder(tmp_path / "index") is None, "a bad question does not cost an index build"


VALID_QUESTIONS = [
    pytest.param(f"🤖 {IOT_Q} 🎉", True, id="emoji-in-question"),
    pytest.param("When\x00 was\x07 the EU-China\x1b IoT Advisory\u200b Group\u202e established?\x7f", True,
                 id="control-chars"),
    pytest.param("When was the\r\nEU-China IoT Advisory Group\testablished?", True, id="newlines-tabs"),
    pytest.param("欧中物联网咨询组是什么时候成立的？", False, id="chinese"),
    pytest.param("متى تأسست المجموعة الاستشارية لإنترنت الأشياء؟", False, id="arabic"),
    pytest.param("Когда была создана консультативная группа?", False, id="russian"),
    pytest.param("When was the IoT Advisory Group (物联网咨询组) established?", False, id="mixed-scripts"),
    pytest.param("Quand le groupe « IoT » a-t-il été créé ? Ça, c'est naïf", False, id="accents"),
    pytest.param(("IoT Advisory Group established " * 100)[:2000], False, id="2000-chars-at-the-limit"),
]


@pytest.mark.parametrize(("question", "knows_answer"), VALID_QUESTIONS)
def test_unusual_but_valid_questions_are_answered_or_abstained(
    capsys: pytest.CaptureFixture[str], built: list[str], seed_copy: Path, question: str, knows_answer: bool
) -> None:
    code, out, err = run(capsys, "ask", question, *built, "--json")
    assert code == 0 and err == ""
    assert len(out.splitlines()) == 1
    d = json.loads(out)
    check_answer(d, question, seed_copy)
    if knows_answer:
        assert not d["abstained"] and IOT_A in d["answer"]
    code, out, err = run(capsys, "ask", question, *built)
    assert code == 0 and err == "" and out.strip()


def test_stdin_batch_answers_the_good_lines_and_reports_each_bad_one(
    capsys: pytest.CaptureFixture[str], built: list[str], seed_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [IOT_Q, "", "?!", "   ", "x" * 100_000, "物联网咨询组？", "\x00\x01", "🤖🎉", f"{IOT_Q} 🎉"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run(capsys, "ask", "--json", *built)
    assert code == 1, "some lines failed"
    got = [json.loads(line) for line in out.splitlines()]
    asked = [q for q in lines if q.strip()]
    assert [g["question"] for g in got[:1]] == [IOT_Q] and len(got) == len(asked), "one line out per line in"
    errors = {g["question"][:20]: g["error"] for g in got if "error" in g}
    assert set(errors) == {"?!", "x" * 20, "\x00\x01", "🤖🎉"}
    assert "limit is 2,000" in errors["x" * 20] and "empty" in errors["\x00\x01"] and "no words" in errors["?!"]
    for g, q in zip(got, asked, strict=True):
        if "error" not in g:
            check_answer(g, q, seed_copy)
    assert IOT_A in got[0]["answer"] and IOT_A in got[-1]["answer"]


def test_undecodable_bytes_never_crash_a_subprocess(seed_copy: Path, tmp_path: Path) -> None:
    """Latin-1 bytes in argv and on stdin, with a strict UTF-8 stdout: U+FFFD, not a UnicodeError."""
    common = ["--corpus", str(seed_copy), "--index", str(tmp_path / "index"), "--model", "hash"]
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    done = citeqa("ask", b"When was the IoT Advisory Group established? caf\xe9", *common, "--json", env=strict)
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout.decode("utf-8"))
    assert d["question"] == "When was the IoT Advisory Group established? caf\ufffd"
    batch = IOT_Q.encode() + b"\ncaf\xe9 cr\xe8me?\n\xff\xfe\xfd\n"
    done = citeqa("ask", "--json", *common, stdin=batch, env=strict)
    assert done.returncode == 1
    first, second, third = (json.loads(line) for line in done.stdout.decode("utf-8").splitlines())
    assert IOT_A in first["answer"]
    assert second["question"] == "caf\ufffd cr\ufffdme?" and "abstained" in second
    assert third == {"question": "\ufffd\ufffd\ufffd", "error": third["error"]} and "no words" in third["error"]


def test_a_terminal_that_cannot_show_unicode_gets_escapes(seed_copy: Path, tmp_path: Path) -> None:
    common = ["--corpus", str(seed_copy), "--index", str(tmp_path / "index"), "--model", "hash"]
    ascii_env = {"PYTHONIOENCODING": "ascii"}
    question = f"🤖 {IOT_Q} (物联网)"
    done = citeqa("ask", question, *common, "--min-confidence", "0", env=ascii_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.isascii() and IOT_A in done.stdout.decode()
    done = citeqa("ask", question, *common, "--json", env=ascii_env)
    assert done.returncode == 0 and done.stdout.isascii()
    assert json.loads(done.stdout)["question"] == question, "JSON escapes, so the text survives exactly"


def test_100k_character_question_in_a_subprocess(seed_copy: Path, tmp_path: Path) -> None:
    done = citeqa("ask", "why " * 25_000, "--corpus", str(seed_copy), "--index", str(tmp_path / "i"),
                  "--model", "hash")
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode() == ("citeqa: error: the question is 99,999 characters long; the limit is 2,000\n")


# ====================================================================================================================
# The corpus
# ====================================================================================================================


LATIN1 = "Café Zürich\n\nThe Café Zürich opened its façade to the street in 1902. Crème brûlée is served daily.\n"
GOOD = {
    "cafe.txt": LATIN1.encode("cp1252"),
    "notes/solar.md": b"# Solar\n\nSolar panels convert sunlight into electricity. Output peaks at noon.\n",
    "page.html": b"<html><head><title>t</title></head><body><h1>Kites</h1><p>Kites were flown in 2020.</p></body>",
    "broken.html": b"<html><body><h2>Harbour notes<p>The harbour was dredged in 1998.<div><b>Ferries</i> leave at "
                   b"seven</table></span>",
    "report.pdf": text_pdf("The lighthouse was painted red in 1921."),
    "handbook.docx": handbook_docx(),
}
BAD = {  # path -> (bytes or a maker, what the warning says)
    "empty.txt": (b"", "is empty"),
    "blank.md": (b"  \n\t\n\r\n", "is empty"),
    "photo.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, "looks binary"),
    "scan.pdf": (blank_pdf, "has no text layer"),
    "fake.pdf": (b"%PDF-1.4\nthis is not really a pdf\n", "is not a readable PDF"),
    "old.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "is not a readable Word file"),
    "locked.pdf": (encrypted_pdf, "is encrypted (password protected)"),
    "scripts-only.html": (b"<html><head><script>alert(1)</script></head><body><style>p{}</style></body></html>",
                          "no visible text"),
    "seed-copy-z.txt": (None, f"duplicate of {SEED_DOC}"),
    "secret-link.txt": (None, "symlink points outside the corpus folder"),
    "outside-dir": (None, "symlink points outside the corpus folder"),
}
IGNORED = {"data.csv": b"a,b\n1,2\n", ".hidden.txt": b"hidden text", ".git/notes.txt": b"git internals"}
SECRET = "TOP SECRET: the launch code is 0000."


@pytest.fixture()
def mixed(seed_copy: Path, tmp_path: Path) -> Path:
    """The seed corpus plus good files of every format, one bad file of every kind, and ignored files."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    for rel, data in {**GOOD, **IGNORED}.items():
        (seed_copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed_copy / rel).write_bytes(data)
    for rel, (data, _) in BAD.items():
        if callable(data):
            data = data()
        if data is not None:
            (seed_copy / rel).write_bytes(data)
    shutil.copyfile(seed_copy / SEED_DOC, seed_copy / "seed-copy-z.txt")
    (seed_copy / "secret-link.txt").symlink_to(outside / "secret.txt")
    (seed_copy / "outside-dir").symlink_to(outside, target_is_directory=True)
    return seed_copy


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def test_mixed_corpus_skips_each_bad_file_by_name_and_indexes_the_good_ones(
    capsys: pytest.CaptureFixture[str], mixed: Path, tmp_path: Path
) -> None:
    before = snapshot(mixed)
    args = ["--corpus", str(mixed), "--index", str(tmp_path / "index"), "--model", "hash"]
    code, out, err = run(capsys, "index", *args)
    assert code == 0
    assert f"indexed {1 + len(GOOD)} documents" in out
    warnings = err.splitlines()
    for rel, (_, reason) in BAD.items():
        assert any(line.startswith(f"warning: skipped {rel}: ") and reason in line for line in warnings), rel
    assert len(warnings) == len(BAD), "no warning about good or ignored files"

    manifest = read_manifest(tmp_path / "index")
    assert set(manifest["files"]) == {SEED_DOC, *GOOD}
    qa = QA(Settings(corpus_dir=mixed, index_dir=tmp_path / "index", model="hash"))
    assert {p for p, _, _ in qa.documents()} == {SEED_DOC, *GOOD}
    assert all(SECRET not in qa.document(p).text for p, _, _ in qa.documents()), "nothing from outside the corpus"
    assert qa.document("cafe.txt").text == LATIN1, "Latin-1 (cp1252) text decoded"
    assert "The harbour was dredged in 1998." in qa.document("broken.html").text, "malformed HTML read leniently"

    code, out, err = run(capsys, "ask", "When did the Café Zürich open its façade?", *args, "--json")
    assert code == 0 and err == "", "the skipped files do not make the index look stale"
    got = json.loads(out)
    assert got["passages"][0]["doc"] == "cafe.txt"
    assert "façade" in got["passages"][0]["text"]

    code, out, err = run(capsys, "index", *args)
    assert code == 0 and "index is up to date" in out
    assert len(err.splitlines()) == len(BAD), "the warnings are repeated on an up-to-date index"
    assert snapshot(mixed) == before, "citeqa never modifies the corpus"
    assert (tmp_path / "outside" / "secret.txt").read_text(encoding="utf-8") == SECRET


def test_mixed_corpus_warnings_from_a_real_subprocess(mixed: Path, tmp_path: Path) -> None:
    done = citeqa("index", "--corpus", str(mixed), "--index", str(tmp_path / "index"), "--model", "hash")
    assert done.returncode == 0
    err = done.stderr.decode()
    assert sorted(re.findall(r"^warning: skipped (\S+): ", err, re.M)) == sorted(BAD)


# --- a file name that is not UTF-8 -------------------------------------------------------------------------------

BAD_NAME = os.fsdecode(b"bad\xffname.txt")  # what Linux allows: any bytes but "/" and NUL
BAD_NAME_SHOWN = "bad\\xffname.txt"  # how citeqa names it: the undecodable byte written out
ZEBRA = "The zebra crossing on Mill Street was painted in 1977."


def test_a_file_name_that_is_not_utf8_is_indexed_under_an_escaped_name(
    capsys: pytest.CaptureFixture[str], dirs: list[str], seed_copy: Path
) -> None:
    (seed_copy / BAD_NAME).write_text(ZEBRA + "\n", encoding="utf-8")
    code, out, err = run(capsys, "index", *dirs)
    assert code == 0 and err == "" and "indexed 2 documents" in out, "was exit 70: UnicodeEncodeError"
    code, out, err = run(capsys, "ask", "When was the zebra crossing on Mill Street painted?", *dirs, "--json")
    assert code == 0 and err == "", "not stale: the escaped name is stable"
    got = json.loads(out)
    assert got["citations"][0]["doc"] == BAD_NAME_SHOWN and got["citations"][0]["quote"] == ZEBRA
    code, out, err = run(capsys, "index", *dirs)
    assert code == 0 and "index is up to date" in out
    qa = QA(Settings(corpus_dir=seed_copy, index_dir=Path(dirs[3]), model="hash"))
    from citeqa.app import ui

    app = ui.ChatApp(qa)
    panel = html.unescape(app.documents_panel())
    assert f"<td>{BAD_NAME_SHOWN}</td><td>txt</td><td>55</td><td>55 bytes</td>" in panel, "its size: the file is found"
    (seed_copy / BAD_NAME).write_text(ZEBRA.replace("1977", "1978") + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "index", *dirs)
    assert code == 0 and "indexed 2 documents" in out, "a change to the file is seen"
    assert "1978" in QA(qa.settings).document(BAD_NAME_SHOWN).text


def test_a_file_name_that_is_not_utf8_in_a_real_subprocess(seed_copy: Path, tmp_path: Path) -> None:
    (seed_copy / BAD_NAME).write_text(ZEBRA + "\n", encoding="utf-8")
    common = ["--corpus", str(seed_copy), "--index", str(tmp_path / "index"), "--model", "hash"]
    done = citeqa("index", *common)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    done = citeqa("ask", "When was the zebra crossing on Mill Street painted?", *common)
    assert done.returncode == 0 and b"[1] bad\\xffname.txt" in done.stdout


@pytest.fixture()
def no_launch(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    from citeqa.app import server, ui

    calls: list[tuple] = []
    monkeypatch.setattr(ui, "launch", lambda demo, host, port, share: calls.append((host, port, share)))
    monkeypatch.setattr(server, "run_app", lambda app, host, port: calls.append((host, port, False)))
    return calls


BAD_CORPORA: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (lambda root: root / "nope", "does not exist"),
    "a-file": (lambda root: _write(root / "corpus.txt", b"text"), "is not a folder"),
    "empty": (lambda root: _mkdir(root / "empty"), "no .txt, .md, .html, .pdf or .docx files in"),
    "only-unsupported": (lambda root: _write(_mkdir(root / "c") / "table.csv", b"a,b").parent,
                         "no .txt, .md, .html, .pdf or .docx files in"),
    "only-hidden": (lambda root: _write(_mkdir(root / "c") / ".notes.txt", b"hidden").parent,
                    "no .txt, .md, .html, .pdf or .docx files in"),
    "every-file-bad": (lambda root: _write(_write(_mkdir(root / "c") / "a.txt", b"").parent / "b.txt",
                                           b"\x00\x01").parent, "every file was skipped:\n  a.txt: is empty\n"
                                                                "  b.txt: looks binary"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("kind", list(BAD_CORPORA))
@pytest.mark.parametrize("command", ["index", "ask", "serve", "eval"])
def test_unusable_corpus_is_exit_3_for_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, no_launch: list, kind: str, command: str
) -> None:
    make, message = BAD_CORPORA[kind]
    corpus = make(tmp_path)
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"q": IOT_Q, "answers": [IOT_A]}) + "\n", encoding="utf-8")
    extra = {"index": [], "ask": [IOT_Q], "serve": ["--port", "1"], "eval": [str(gold)]}[command]
    code, out, err = run(capsys, command, *extra, "--corpus", str(corpus), "--index", str(tmp_path / "index"),
                         "--model", "hash")
    assert_error(code, err, 3, message)
    assert out == "" and no_launch == [], "no server starts over an unusable corpus"


def test_missing_corpus_in_a_real_subprocess(tmp_path: Path) -> None:
    done = citeqa("index", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "--model", "hash")
    assert done.returncode == 3 and done.stdout == b""
    assert done.stderr.decode() == f"citeqa: error: corpus folder {tmp_path / 'nope'} does not exist\n"


# --- an unreadable file, for real: as an unprivileged user ------------------------------------------------------


def _nobody() -> tuple[int, int]:
    """``nobody``'s uid and gid; 65534 (its usual ids) where there is no such entry: setuid needs none."""
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
    except (ImportError, KeyError):
        return 65534, 65534
    return entry.pw_uid, entry.pw_gid


def _as_nobody(argv: list[str], uid: int, gid: int, workdir: Path) -> tuple[int, str, str]:
    """Run ``citeqa ARGV`` as ``nobody``: with ``setpriv`` when that user can start this interpreter (it cannot
    when Python lives under /root), else in a forked child that drops its privileges (modules already loaded)."""
    setpriv = shutil.which("setpriv")
    drop = [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"] if setpriv else None
    if drop and subprocess.run([*drop, sys.executable, "-c", "import citeqa.app.cli"], capture_output=True,
                               timeout=60, check=False).returncode == 0:
        env = {**os.environ, "HOME": str(workdir), "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([*drop, sys.executable, "-m", "citeqa.app.cli", *argv], capture_output=True, text=True,
                              env=env, cwd=workdir, timeout=120, check=False)
        return done.returncode, done.stdout, done.stderr
    import faiss  # noqa: F401 - loaded before the fork: the child may not read the interpreter's folders
    import tqdm  # noqa: F401

    out_path, err_path = workdir / "out.txt", workdir / "err.txt"
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            sys.stdout = io.TextIOWrapper(os.fdopen(out_fd, "wb"), encoding="utf-8", write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(err_fd, "wb"), encoding="utf-8", write_through=True)
            code = main(argv)
        except BaseException as exc:  # report anything, then leave
            os.write(err_fd, f"child failed: {exc!r}".encode())
        finally:
            os._exit(code)
    os.close(out_fd)
    os.close(err_fd)
    deadline = time.monotonic() + 120
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the unprivileged child hung")
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(status[1]), out_path.read_text(), err_path.read_text()


def test_chmod_000_file_is_skipped_by_name_for_a_real_unprivileged_user(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """As root (CI) the build runs in a child dropped to ``nobody``, since root reads chmod 000 files; as any
    other user it runs in-process."""
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="citeqa-perm-"))  # outside pytest's private (0700) temp folder
    try:
        workdir.chmod(0o755)
        corpus = workdir / "corpus"
        corpus.mkdir()
        (corpus / "ok.txt").write_text("The harbour was dredged in 1998.", encoding="utf-8")
        locked = corpus / "locked.txt"
        locked.write_text("Private notes.", encoding="utf-8")
        (corpus / "sealed").mkdir()
        (corpus / "sealed" / "inner.txt").write_text("Inside a sealed folder.", encoding="utf-8")
        argv = ["index", "--corpus", str(corpus), "--index", str(workdir / "index"), "--model", "hash"]
        ids = _nobody() if os.geteuid() == 0 else None
        if ids is not None:
            (workdir / "index").mkdir()
            os.chown(workdir / "index", *ids)
            os.chown(workdir, *ids)
        locked.chmod(0)
        (corpus / "sealed").chmod(0)
        code, out, err = _as_nobody(argv, *ids, workdir) if ids is not None else run(capsys, *argv)
        assert code == 0, err
        assert "indexed 1 documents" in out
        assert "warning: skipped locked.txt: cannot be read: permission denied" in err
        assert "warning: skipped sealed: folder cannot be read: Permission denied" in err
        assert read_manifest(workdir / "index")["files"].keys() == {"ok.txt"}
    finally:
        for p in (workdir / "corpus" / "sealed", workdir / "corpus" / "locked.txt"):
            if p.exists():
                p.chmod(0o755)
        shutil.rmtree(workdir, ignore_errors=True)


# --- a 50 MB text file --------------------------------------------------------------------------------------------

NEEDLE = "The lighthouse keeper Mirela Voss repainted the northern tower in 1931."


def write_big_text(path: Path, megabytes: float, seed: int = 0) -> int:
    """A text file of ``megabytes`` of sentences in paragraphs and chapters, with :data:`NEEDLE` in the middle."""
    import random

    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "an", "el", "ur", "is", "om"]
    vocab = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    target, size, i, placed = int(megabytes * 2**20), 0, 0, False
    with open(path, "w", encoding="utf-8") as fh:
        while size < target:
            if i % 50 == 0:
                s = f"\n\nChapter {i // 50}\n\n"
            else:
                s = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 18))).capitalize() + ". "
                if i % 6 == 0:
                    s += "\n\n"
            if not placed and size >= target // 2:
                s += f"\n\n{NEEDLE}\n\n"
                placed = True
            fh.write(s)
            size += len(s)
            i += 1
    return size


BIG_INDEX_SCRIPT = """
import resource, sys, numpy as np
import citeqa.qa
from citeqa.app.cli import main
from citeqa.encode.embedder import HashEmbedder

class MemoHash(HashEmbedder):  # the hash embedder with its word vectors memoised: same vectors, 4x faster
    memo = {}
    def _word(self, w):
        v = self.memo.get(w)
        if v is None:
            v = self.memo[w] = super()._word(w)
        return v

citeqa.qa.make_embedder = lambda model: MemoHash()
code = main(sys.argv[1:])
print("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.integration
def test_a_big_text_file_indexes_within_memory(tmp_path: Path) -> None:
    """A 10 MB text file (~21k chunks, ~123k sentences) is indexed whole and its needle found, peak RSS bounded.

    No time is asserted (it depends on the CPU and on what else runs): ``benchmarks/big_file.py`` measures the
    50 MB case (time and memory) and docs/performance.md reports it."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    size = write_big_text(corpus / "big.txt", 10)
    assert size >= 10 * 2**20
    index = tmp_path / "index"
    done = subprocess.run([sys.executable, "-c", BIG_INDEX_SCRIPT, "index", "--corpus", str(corpus),
                           "--index", str(index), "--model", "hash"], capture_output=True, text=True, timeout=1800,
                          check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    peak = int(re.search(r"peak_rss_mb (\d+)", done.stderr).group(1))
    m = re.search(r"indexed 1 documents into (\d+) chunks and (\d+) sentences", done.stdout)
    assert m, done.stdout
    chunks = int(m.group(1))
    assert chunks > 14_000 and peak < 3_000
    s = Settings(corpus_dir=corpus, index_dir=index, model="hash")
    qa = QA(s)
    got = qa.ask("Who repainted the northern tower in 1931?", min_confidence=0.0)
    assert got.passages and any(NEEDLE in p.chunk.text for p in got.passages)
    text = qa.document("big.txt").text
    assert all(text[c.start : c.end] == c.quote for c in got.citations)


# ====================================================================================================================
# The index
# ====================================================================================================================


def test_index_pointer_to_a_missing_folder_is_rebuilt_by_ask(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                                              tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "CURRENT").write_text("data-gone\n", encoding="utf-8")  # points at nothing
    code, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--json")
    assert code == 0 and IOT_A in json.loads(out)["answer"]
    assert current_folder(tmp_path / "index").name != "data-gone"


@pytest.mark.parametrize("command", ["index", "ask"])
def test_index_path_that_is_a_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], seed_copy: Path,
                                                    tmp_path: Path, command: str) -> None:
    not_a_folder = tmp_path / "index.txt"
    not_a_folder.write_text("my notes", encoding="utf-8")
    extra = [IOT_Q] if command == "ask" else []
    code, out, err = run(capsys, command, *extra, "--corpus", str(seed_copy), "--index", str(not_a_folder),
                         "--model", "hash")
    assert_error(code, err, 2, f"cannot use {not_a_folder} as the index folder (it is not a folder)")
    assert out == "" and not_a_folder.read_text(encoding="utf-8") == "my notes"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE = {
    "faiss-truncated": lambda f: _truncate(f / "dense.faiss"),
    "faiss-missing": lambda f: (f / "dense.faiss").unlink(),
    "faiss-zeroed": lambda f: (f / "dense.faiss").write_bytes(bytes((f / "dense.faiss").stat().st_size)),
    "sqlite-garbage": lambda f: (f / "store.sqlite").write_bytes(b"not a database" * 1000),
    "sqlite-truncated": lambda f: _truncate(f / "store.sqlite"),
    "sqlite-page-corrupted": lambda f: _corrupt_middle(f / "store.sqlite"),
    "sentences-truncated": lambda f: _truncate(f / "sentences.npy"),
    "bm25-garbage": lambda f: (f / "bm25.npz").write_bytes(b"PK\x03\x04garbage"),
    "vocab-garbage": lambda f: (f / "bm25_vocab.json").write_text("[1, ", encoding="utf-8"),
    "manifest-garbage": lambda f: (f / "manifest.json").write_bytes(b"\x00\xff{"),
}


def _corrupt_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[100:mid] = b"\xa5" * (mid - 100)  # keeps the header and the size: damage only a full check can see
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_is_reported_then_repaired_keeping_cache_and_feedback(
    capsys: pytest.CaptureFixture[str], built: list[str], tmp_path: Path, damage: str
) -> None:
    index = tmp_path / "index"
    qa = QA(Settings(corpus_dir=Path(built[1]), index_dir=index, model="hash"))
    FeedbackStore(index / "feedback.sqlite").add(qa.ask(IOT_Q), 1, "useful")
    DAMAGE[damage](current_folder(index))
    code, out, err = run(capsys, "ask", IOT_Q, *built)
    assert_error(code, err, 4, "unreadable" if "manifest" in damage else " damaged", "run `citeqa index`")
    assert out == "" and err.count("\n") == 1
    code, out, err = run(capsys, "index", *built)
    assert code == 0 and "indexed 1 documents" in out and "(0 embedded," in out, "the embedding cache survives"
    code, out, _ = run(capsys, "ask", IOT_Q, *built, "--json")
    assert code == 0 and IOT_A in json.loads(out)["answer"]
    assert len(FeedbackStore(index / "feedback.sqlite").all()) == 1, "the users' votes survive a rebuild"


FOREIGN = {
    "newer-format": ({"format": 99}, "format 99 (this citeqa reads 3)"),
    "other-model": ({"model": "sentence-transformers/all-mpnet-base-v2"},
                    "model 'sentence-transformers/all-mpnet-base-v2' (settings say 'hash')"),
    "other-chunking": ({"chunking": {"chunk_chars": 300, "chunk_overlap_sentences": 1}}, "chunking"),
    "format-missing": ({"format": None}, "format None"),
}


@pytest.mark.parametrize("case", list(FOREIGN))
def test_index_from_another_model_or_version_is_refused_with_what_to_run(
    capsys: pytest.CaptureFixture[str], built: list[str], tmp_path: Path, case: str
) -> None:
    change, message = FOREIGN[case]
    path = current_folder(tmp_path / "index") / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, **change}), encoding="utf-8")
    code, out, err = run(capsys, "ask", IOT_Q, *built)
    assert_error(code, err, 4, "was built with another", message, "Run `citeqa index` to rebuild it.")
    assert out == ""
    code, out, _ = run(capsys, "index", *built)
    assert code == 0 and "indexed 1 documents" in out
    assert run(capsys, "ask", IOT_Q, *built)[0] == 0


def test_index_from_another_citeqa_version_with_the_same_format_loads(
    capsys: pytest.CaptureFixture[str], built: list[str], tmp_path: Path
) -> None:
    path = current_folder(tmp_path / "index") / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "citeqa_version": "0.0.1"}), encoding="utf-8")
    code, out, err = run(capsys, "ask", IOT_Q, *built)
    assert code == 0 and err == "" and IOT_A in out


STALE = {
    "file-added": lambda c: (c / "kites.txt").write_text("Kites were flown on the beach in 2020.", encoding="utf-8"),
    "file-changed": lambda c: (c / "harbour.txt").write_text("The harbour was dredged in 2001.", encoding="utf-8"),
    "file-removed": lambda c: (c / "harbour.txt").unlink(),
    "bad-file-fixed": lambda c: (c / "empty.txt").write_text("No longer empty.", encoding="utf-8"),
}


@pytest.mark.parametrize("change", list(STALE))
def test_index_older_than_the_corpus_warns_and_still_answers(
    capsys: pytest.CaptureFixture[str], dirs: list[str], seed_copy: Path, change: str
) -> None:
    (seed_copy / "harbour.txt").write_text("The harbour was dredged in 1998.", encoding="utf-8")
    (seed_copy / "empty.txt").write_text("", encoding="utf-8")
    assert run(capsys, "index", *dirs)[0] == 0
    time.sleep(0.01)
    STALE[change](seed_copy)
    code, out, err = run(capsys, "ask", IOT_Q, *dirs)
    assert code == 0 and IOT_A in out
    assert re.fullmatch(r"warning: the index is stale \(1 file\(s\) changed since it was built, e\.g\. \S+\); "
                        r"run `citeqa index` to refresh it\n", err), err
    assert run(capsys, "index", *dirs)[0] == 0
    code, _, err = run(capsys, "ask", IOT_Q, *dirs)
    assert code == 0 and "stale" not in err


def test_a_rebuild_that_fails_keeps_the_previous_index(capsys: pytest.CaptureFixture[str], built: list[str],
                                                       seed_copy: Path, tmp_path: Path) -> None:
    live = current_folder(tmp_path / "index")
    (seed_copy / SEED_DOC).unlink()  # now the corpus is empty: the rebuild must fail, not wipe the index
    code, _, err = run(capsys, "index", *built)
    assert_error(code, err, 3, "no .txt, .md, .html, .pdf or .docx files")
    assert current_folder(tmp_path / "index") == live
    code, out, err = run(capsys, "ask", IOT_Q, *built)
    assert code == 0 and IOT_A in out and "the index is stale" in err


def test_disk_full_during_a_build_is_a_message_and_the_old_index_stays(
    capsys: pytest.CaptureFixture[str], built: list[str], seed_copy: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import citeqa.index.build
    import citeqa.index.update

    live = current_folder(tmp_path / "index")
    (seed_copy / "kites.txt").write_text("Kites were flown on the beach in 2020.", encoding="utf-8")

    def full(path: Path, *_a: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(citeqa.index.build, "write_store", full)
    monkeypatch.setattr(citeqa.index.update, "update_store", full)
    code, out, err = run(capsys, "index", *built)
    assert code == 74 and out == ""
    assert re.fullmatch(r"citeqa: error: disk full: cannot write the index in \S+ \(.*No space left on device.*\); "
                        r"the partial build was removed.*`citeqa index` again\n", err), err
    assert current_folder(tmp_path / "index") == live
    code, out, _ = run(capsys, "ask", IOT_Q, *built)
    assert code == 0 and IOT_A in out
    monkeypatch.undo()
    code, out, _ = run(capsys, "index", *built)
    assert code == 0 and "indexed 2 documents" in out
    assert not list((tmp_path / "index").glob(".build-*")), "the half-written folder is cleaned up"


# ====================================================================================================================
# Security: nothing that runs code is loaded; the index folder holds data formats only; hostile upload names
# ====================================================================================================================

FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


def _call_name(node: ast.Call) -> str:
    return ast.unparse(node.func)


def test_source_never_uses_a_code_executing_loader() -> None:
    """No pickle-family module; ``np.load`` only with ``allow_pickle=False``; ``torch.load`` only with
    ``weights_only=True``; no ``eval``/``exec``; YAML only through ``safe_load``."""
    problems: list[str] = []
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                problems += [f"{where}:{node.lineno} imports {n}" for n in names
                             if n.split(".")[0] in FORBIDDEN_MODULES]
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
            if name.endswith(("np.load", "numpy.load")) and kwargs.get("allow_pickle") != "False":
                problems.append(f"{where}:{node.lineno} {name} without allow_pickle=False")
            if name.endswith("torch.load") and kwargs.get("weights_only") != "True":
                problems.append(f"{where}:{node.lineno} torch.load without weights_only=True")
            if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
                problems.append(f"{where}:{node.lineno} calls {name}")
            if name.endswith("yaml.load") or name.endswith("yaml.unsafe_load"):
                problems.append(f"{where}:{node.lineno} calls {name}")
    assert problems == []


def test_loading_and_asking_never_unpickles(fake_qa: QA, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    real_load = np.load

    def recording_load(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(np, "load", recording_load)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    qa = QA(fake_qa.settings)
    answer = qa.ask(IOT_Q)
    assert IOT_A in answer.answer and qa.documents() and qa.document(SEED_DOC)
    assert calls and all(c.get("allow_pickle") is False for c in calls)


class Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.mkdir, (str(self.marker),)


def _plant_npy(folder: Path, marker: Path) -> None:
    np.save(folder / "sentences.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)


def _plant_npz(folder: Path, marker: Path) -> None:
    arrays = dict(np.load(folder / "bm25.npz", allow_pickle=False))
    arrays["idf"] = np.array([Payload(marker)], dtype=object)
    with open(folder / "bm25.npz", "wb") as fh:
        np.savez(fh, **arrays)


def _plant_faiss(folder: Path, marker: Path) -> None:
    (folder / "dense.faiss").write_bytes(pickle.dumps(Payload(marker)))


def _plant_manifest(folder: Path, marker: Path) -> None:
    (folder / "manifest.json").write_bytes(pickle.dumps(Payload(marker)))


@pytest.mark.parametrize("plant", [_plant_npy, _plant_npz, _plant_faiss, _plant_manifest],
                         ids=["sentences.npy", "bm25.npz", "dense.faiss", "manifest.json"])
def test_a_planted_pickle_is_refused_and_never_run(capsys: pytest.CaptureFixture[str], built: list[str],
                                                   tmp_path: Path, plant: Callable[[Path, Path], None]) -> None:
    marker = tmp_path / "pwned"
    plant(current_folder(tmp_path / "index"), marker)
    assert not marker.exists()
    code, out, err = run(capsys, "ask", IOT_Q, *built)
    assert_error(code, err, 4, "run `citeqa index`")
    assert out == "" and not marker.exists(), "the payload ran"
    assert run(capsys, "index", *built)[0] == 0 and not marker.exists()


SAFE_INDEX_FILE = re.compile(
    r"(CURRENT|\.lock|[\w.-]+\.(json|sqlite|npy|npz|faiss)|[\w.-]+\.sqlite-(journal|wal|shm))$")


def test_index_folder_holds_only_data_formats_through_a_whole_lifecycle(
    capsys: pytest.CaptureFixture[str], built: list[str], seed_copy: Path, tmp_path: Path
) -> None:
    from citeqa.app import ui

    index = tmp_path / "index"
    qa = QA(Settings(corpus_dir=seed_copy, index_dir=index, model="hash"))
    app = ui.ChatApp(qa)
    app.feedback.add(qa.ask(IOT_Q), -1)
    upload = tmp_path / "up" / "kites.txt"
    upload.parent.mkdir()
    upload.write_text("Kites were flown on the beach in 2020.", encoding="utf-8")
    app.upload_dir = upload.parent  # as if Gradio had received it
    app.upload([str(upload)], lambda *a, **k: None)
    (seed_copy / "harbour.txt").write_text("The harbour was dredged in 1998.", encoding="utf-8")
    assert run(capsys, "index", *built)[0] == 0
    assert run(capsys, "ask", IOT_Q, *built)[0] == 0
    files = [p for p in index.rglob("*") if p.is_file()]
    assert len(files) >= 9
    for path in files:
        assert SAFE_INDEX_FILE.match(path.name), f"unexpected file in the index folder: {path.name}"
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), path.name
    assert {p.parent for p in files if p.suffix in (".faiss", ".npy", ".npz")} == {current_folder(index)}


# --- uploads with hostile names, sizes and contents ---------------------------------------------------------------

HOSTILE_NAMES = [  # name -> stored name, or None when refused
    ("../../etc/passwd", None),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("/etc/cron.d/evil.md", "evil.md"),
    ("..\\..\\x.txt", "x.txt"),
    ("C:\\Windows\\System32\\drivers\\evil.html", "evil.html"),
    ("\\\\server\\share\\notes.md", "notes.md"),
    ("a\x00b.txt", "a_b.txt"),
    ("evil.exe\x00.txt", "evil.exe_.txt"),
    (".bashrc.md", "bashrc.md"),
    ("..", None),
    (".", None),
    ("", None),
    ("/", None),
    ("notes.txt\u202egpj.exe", None),
    ("page.php", None),
    ("shell.sh", None),
    ("x.svg", None),
    ("archive.tar.gz", None),
    ("x" * 10_000 + ".txt", "x" * 116 + ".txt"),
    ("-rf --no-preserve-root.txt", "rf --no-preserve-root.txt"),
    ("line\nbreak\r.md", "line_break_.md"),
    ("$(reboot).txt", "reboot_.txt"),
]


@pytest.mark.parametrize(("name", "stored"), HOSTILE_NAMES, ids=[repr(n)[:40] for n, _ in HOSTILE_NAMES])
def test_hostile_upload_names_stay_inside_the_corpus(tmp_path: Path, name: str, stored: str | None) -> None:
    from citeqa.app.uploads import save_upload

    corpus, source = tmp_path / "corpus", tmp_path / "incoming" / "upload.bin"
    corpus.mkdir()
    source.parent.mkdir()
    source.write_bytes(b"The lighthouse was painted red in 1921.\n")
    before = {p for p in tmp_path.rglob("*")}
    if stored is None:
        with pytest.raises(InputError, match="unsupported type"):
            save_upload(source, corpus, original_name=name)
        assert {p for p in tmp_path.rglob("*")} == before, "nothing written anywhere"
        return
    saved = save_upload(source, corpus, original_name=name)
    assert saved.rel == stored and saved.new
    assert saved.path.parent == corpus.resolve() and not saved.path.name.startswith(".")
    assert {p for p in tmp_path.rglob("*")} - before == {corpus / stored}, "only the stored file is new"
    assert len(saved.path.name.encode("utf-8")) <= 255


def test_long_non_ascii_upload_name_is_shortened_to_fit_the_file_system(tmp_path: Path) -> None:
    from citeqa.app.uploads import save_upload

    source = tmp_path / "up.txt"
    source.write_text("The lighthouse was painted red in 1921.", encoding="utf-8")
    saved = save_upload(source, tmp_path / "corpus", original_name="東" * 200 + ".txt")
    assert len(saved.path.name.encode("utf-8")) <= 255


def test_oversize_upload_at_the_real_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    from citeqa.app.uploads import MAX_UPLOAD_BYTES, save_upload

    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(InputError, match=r"huge\.txt is 20\.0 MB; the upload limit is 20 MB"):
        save_upload(huge, tmp_path / "corpus")
    assert not (tmp_path / "corpus").exists() or not any((tmp_path / "corpus").iterdir())


def test_app_upload_of_a_file_named_with_backslashes_lands_in_the_corpus(fake_qa: QA, tmp_path: Path) -> None:
    from citeqa.app import ui

    evil = tmp_path / "up" / "..\\..\\kites.txt"  # a legal file name on Linux
    evil.parent.mkdir()
    evil.write_text("Kites were flown on the beach in 2020.", encoding="utf-8")
    app = ui.ChatApp(fake_qa)
    app.upload_dir = evil.parent  # as if Gradio had received it
    _, status, _ = app.upload([str(evil)], lambda *a, **k: None)
    assert "Added kites.txt" in html.unescape(status)
    corpus = fake_qa.settings.corpus_dir
    assert (corpus / "kites.txt").is_file()
    assert not list(tmp_path.glob("kites.txt")) and not list(corpus.parent.glob("kites.txt"))


def test_serve_binds_loopback_unless_told_otherwise(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                                    no_launch: list) -> None:
    code, _, err = run(capsys, "serve", *dirs, "--port", "8123")
    assert code == 0 and no_launch == [("127.0.0.1", 8123, False)] and "warning" not in err
    code, _, err = run(capsys, "serve", *dirs, "--port", "8124", "--host", "0.0.0.0", "--share")
    assert code == 2 and "--allowed-host" in err  # a wildcard bind must say which names clients use
    code, _, err = run(capsys, "serve", *dirs, "--port", "8124", "--host", "0.0.0.0", "--share", "--allowed-host", "*")
    assert code == 0 and no_launch[-1] == ("0.0.0.0", 8124, True)
    assert "WARNING: binding 0.0.0.0 WITHOUT AN ACCESS TOKEN" in err and "--share opens a PUBLIC" in err
