"""Tests for citeqa.app.cli: the commands in-process with the hash model, and once for real as a subprocess."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from citeqa.app.cli import main
from citeqa.index.layout import current_folder

ROOT = Path(__file__).resolve().parents[2]
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
IOT_Q = "When was the EU-China IoT Advisory Group established?"
ANSWER_KEYS = {"question", "answer", "status", "abstained", "confidence", "answer_span", "citations", "passages",
               "follow_up_of"}
CITATION_KEYS = {"n", "doc", "section", "start", "end", "quote", "score", "page"}
PASSAGE_KEYS = {"rank", "chunk_id", "doc", "section", "start", "end", "text", "score", "dense_score", "bm25_score",
                "page"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def check_contract(d: dict, question: str, corpus: Path) -> None:
    assert set(d) == ANSWER_KEYS
    assert d["question"] == question
    assert isinstance(d["abstained"], bool) and isinstance(d["confidence"], float)
    assert 0.0 <= d["confidence"] <= 1.0
    assert d["passages"]
    for p in d["passages"]:
        assert set(p) == PASSAGE_KEYS and p["page"] is None, "a text file has no pages"
        text = (corpus / p["doc"]).read_text(encoding="utf-8")
        assert text[p["start"] : p["end"]] == p["text"]
    assert d["status"] in ("answered", "tentative", "abstained")
    assert d["abstained"] == (d["status"] != "answered")
    if d["status"] == "abstained":
        assert d["answer"] is None and d["citations"] == [] and d["answer_span"] is None
        return
    assert d["citations"] and d["answer"] == " ".join(c["quote"] for c in d["citations"])
    for c in d["citations"]:
        assert set(c) == CITATION_KEYS and c["page"] is None
        text = (corpus / c["doc"]).read_text(encoding="utf-8")
        assert text[c["start"] : c["end"]] == c["quote"]
    if d["answer_span"] is not None:
        assert set(d["answer_span"]) == {"start", "end"}
        assert 0 <= d["answer_span"]["start"] < d["answer_span"]["end"] <= len(d["answer"])


# --- index ------------------------------------------------------------------------


def test_index_then_up_to_date(capsys: pytest.CaptureFixture[str], dirs: list[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "index", *dirs)
    assert code == 0
    assert re.search(r"indexed 1 documents into \d+ chunks and \d+ sentences", out)
    assert current_folder(tmp_path / "index") is not None
    code, out, _ = run(capsys, "index", *dirs)
    assert code == 0 and "index is up to date: 1 documents" in out


def test_index_warns_about_skipped_files(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                         seed_copy: Path) -> None:
    (seed_copy / "empty.txt").write_text("", encoding="utf-8")
    code, _, err = run(capsys, "index", *dirs)
    assert code == 0 and "warning: skipped empty.txt: is empty" in err


# --- ask --------------------------------------------------------------------------


def test_ask_builds_missing_index_and_prints_cited_answer(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                                          tmp_path: Path) -> None:
    assert current_folder(tmp_path / "index") is None
    code, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--min-confidence", "0")
    assert code == 0
    assert current_folder(tmp_path / "index") is not None
    answer, _, rest = out.partition("(confidence ")
    assert re.search(r"\[1\]\s*$", answer), "the answer ends with its citation markers"
    assert "Sources:" in rest
    assert re.search(r"^\[1\] eu_china_expert_groups\.txt — .+ — lines? \d+(–\d+)?, characters \d+–\d+$", rest, re.M)


def test_ask_human_line_numbers_are_right(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                          seed_copy: Path) -> None:
    run(capsys, "index", *dirs)
    _, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--min-confidence", "0", "--json")
    cite = json.loads(out)["citations"][0]
    text = (seed_copy / cite["doc"]).read_text(encoding="utf-8")
    line = text.count("\n", 0, cite["start"]) + 1
    _, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--min-confidence", "0")
    assert re.search(rf"— lines? {line}\b", out)
    assert cite["quote"].splitlines()[0] in out


def test_ask_human_abstention(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    code, out, _ = run(capsys, "ask", "What is the capital of Australia?", *dirs)
    assert code == 0
    assert out.startswith("The documents don't say.")
    assert "Closest passages:" in out and "Sources:" not in out


def test_ask_human_tentative_answer(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    code, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--min-confidence", "1")
    assert code == 0
    assert out.startswith("Possible answer (low confidence):\n")
    assert "February 2011" in out and "below the threshold" in out and "Sources:\n[1]" in out


def test_ask_json_contract(capsys: pytest.CaptureFixture[str], dirs: list[str], seed_copy: Path) -> None:
    code, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--json", "--min-confidence", "0", "-k", "3", "--mode", "bm25")
    assert code == 0
    assert len(out.strip().splitlines()) == 1
    d = json.loads(out)
    check_contract(d, IOT_Q, seed_copy)
    assert not d["abstained"] and len(d["passages"]) == 3
    assert [c["n"] for c in d["citations"]] == list(range(1, len(d["citations"]) + 1))


def test_ask_json_abstained_contract(capsys: pytest.CaptureFixture[str], dirs: list[str], seed_copy: Path) -> None:
    _, out, _ = run(capsys, "ask", IOT_Q, *dirs, "--json", "--min-confidence", "1")
    d = json.loads(out)
    check_contract(d, IOT_Q, seed_copy)
    assert d["abstained"] is True


def test_ask_json_reads_questions_from_stdin(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                             seed_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    questions = [IOT_Q, "Who headed the EU members of the IoT group?", "When was the Broadband group set up?"]
    lines = [questions[0], "", questions[1], "  ", questions[2]]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run(capsys, "ask", "--json", *dirs)
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for q, line in zip(questions, lines, strict=True):
        check_contract(json.loads(line), q, seed_copy)


def test_ask_json_stdin_reports_bad_lines_and_goes_on(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"???\n{IOT_Q}\n"))
    code, out, _ = run(capsys, "ask", "--json", *dirs)
    assert code == 1
    bad, good = (json.loads(line) for line in out.strip().splitlines())
    assert bad["question"] == "???" and "no words" in bad["error"]
    assert good["question"] == IOT_Q and "answer" in good


def test_ask_warns_when_index_is_stale(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                       seed_copy: Path) -> None:
    run(capsys, "index", *dirs)
    (seed_copy / "new.txt").write_text("A new file about kites.", encoding="utf-8")
    code, _, err = run(capsys, "ask", IOT_Q, *dirs)
    assert code == 0 and "the index is stale" in err and "new.txt" in err


# --- errors -------------------------------------------------------------------------


def _assert_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code
    assert err.startswith("citeqa: error: "), err
    assert fragment in err


def test_missing_corpus_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "index"), "--model", "hash"]
    code, out, err = run(capsys, "index", *args)
    _assert_error(code, err, 3, "does not exist")
    assert out == ""
    code, _, err = run(capsys, "ask", IOT_Q, *args)
    _assert_error(code, err, 3, "does not exist")


@pytest.mark.parametrize("question", ["", "   ", "\t\n"])
def test_empty_question(capsys: pytest.CaptureFixture[str], dirs: list[str], question: str) -> None:
    code, _, err = run(capsys, "ask", question, *dirs)
    _assert_error(code, err, 2, "the question is empty")


def test_question_without_words(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    code, _, err = run(capsys, "ask", "?!", *dirs)
    _assert_error(code, err, 2, "no words")


def test_ask_without_question_or_json(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    code, _, err = run(capsys, "ask", *dirs)
    _assert_error(code, err, 1, "give a question")


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_bad_min_confidence(capsys: pytest.CaptureFixture[str], dirs: list[str], value: str) -> None:
    code, _, err = run(capsys, "ask", IOT_Q, *dirs, f"--min-confidence={value}")
    _assert_error(code, err, 2, "--min-confidence must be between 0 and 1")


def test_non_numeric_min_confidence_is_a_usage_error(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ask", IOT_Q, *dirs, "--min-confidence", "high"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --min-confidence" in err and "Traceback" not in err


@pytest.mark.parametrize("k", ["0", "101"])
def test_bad_k(capsys: pytest.CaptureFixture[str], dirs: list[str], k: str) -> None:
    code, _, err = run(capsys, "ask", IOT_Q, *dirs, "-k", k)
    _assert_error(code, err, 2, "between 1 and 100")


def test_corrupt_index(capsys: pytest.CaptureFixture[str], dirs: list[str], tmp_path: Path) -> None:
    run(capsys, "index", *dirs)
    faiss_file = current_folder(tmp_path / "index") / "dense.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    code, out, err = run(capsys, "ask", IOT_Q, *dirs)
    _assert_error(code, err, 4, "run `citeqa index`")
    assert out == ""
    code, _, _ = run(capsys, "index", *dirs)
    assert code == 0
    code, _, _ = run(capsys, "ask", IOT_Q, *dirs)
    assert code == 0


def test_index_built_with_another_model(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    run(capsys, "index", *dirs)
    other = [*dirs[:-1], "hash:32"]
    code, _, err = run(capsys, "ask", IOT_Q, *other)
    _assert_error(code, err, 4, "Run `citeqa index`")


def test_internal_errors_are_one_line(capsys: pytest.CaptureFixture[str], dirs: list[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import citeqa.qa

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(citeqa.qa.QA, "build", boom)
    code, _, err = run(capsys, "index", *dirs)
    assert code == 70
    assert err.startswith("citeqa: internal error: RuntimeError: kaboom")


# --- eval ---------------------------------------------------------------------------


def test_eval_prints_the_figures(capsys: pytest.CaptureFixture[str], dirs: list[str]) -> None:
    code, out, _ = run(capsys, "eval", str(SEED_QA), *dirs)
    assert code == 0
    for label in ("questions", "answer hit", "evidence recall@1/3/5", "abstention (unans.)", "false abstention",
                  "median answer chars", "citation verbatim", "latency p50 / p95"):
        assert label in out
    assert re.search(r"citation verbatim\s+1\.000", out)
    n = sum(1 for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip())
    assert re.search(rf"questions\s+{n} \(", out)


def test_eval_json(capsys: pytest.CaptureFixture[str], dirs: list[str], tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({"q": IOT_Q, "answers": ["February 2011"], "evidence": "established in February 2011"}) + "\n"
        + json.dumps({"q": "What colour is the Moon's far side?", "answerable": False}) + "\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "eval", str(gold), *dirs, "--json", "--min-confidence", "0")
    assert code == 0
    d = json.loads(out)
    assert d["n"] == 2 and d["n_answerable"] == 1
    assert d["citation_verbatim"] == 1.0
    assert d["false_abstention"] == 0.0 and d["abstention"] == 0.0


def test_eval_bad_gold_file(capsys: pytest.CaptureFixture[str], dirs: list[str], tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"q": "ok?", "answers": ["x"]}\nnot json\n', encoding="utf-8")
    code, _, err = run(capsys, "eval", str(gold), *dirs)
    _assert_error(code, err, 2, "gold.jsonl:2: not a gold line")
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.jsonl"), *dirs)
    _assert_error(code, err, 2, "cannot read gold file")


# --- the real console script, end to end ----------------------------------------------


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citeqa.app.cli"]


@pytest.mark.integration
def test_console_script_end_to_end(seed_copy: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    corpus, index = tmp_path / "docs", tmp_path / "idx"
    shutil.move(seed_copy, corpus)
    common = ["--corpus", str(corpus), "--index", str(index)]
    cmd = _console_script()

    done = subprocess.run([*cmd, "index", *common], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "indexed 1 documents" in done.stdout and "Traceback" not in done.stderr

    done = subprocess.run([*cmd, "ask", "--json", IOT_Q, *common], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    check_contract(d, IOT_Q, corpus)
    assert not d["abstained"]
    assert "February 2011" in d["answer"]
    text = (corpus / "eu_china_expert_groups.txt").read_text(encoding="utf-8")
    cite = d["citations"][0]
    assert text[cite["start"] : cite["end"]] == cite["quote"]
    assert "February 2011" in cite["quote"]
