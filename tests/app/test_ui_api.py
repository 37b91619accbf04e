"""The chat app without a browser: its handlers, `serve`, and the `/ask` API through gradio_client."""

from __future__ import annotations

import html
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client

from citeqa.app import server, ui
from citeqa.app.cli import main
from citeqa.config import Settings
from citeqa.models import Answer
from citeqa.qa import QA

# Gradio's queue statistics use pandas options that pandas 3 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
IOT_Q = "When was the EU-China IoT Advisory Group established?"
NEW_DOC = "The Xylophone Museum of Lund opened its doors in March 1987 with forty instruments.\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def chat(fake_qa: QA) -> ui.ChatApp:
    return ui.ChatApp(fake_qa)


@pytest.fixture()
def app_url(fake_qa: QA) -> Iterator[str]:
    demo = ui.build_app(fake_qa)
    port = free_port()
    ui.launch(demo, "127.0.0.1", port, block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def _ask(chat: ui.ChatApp, question: str, state: tuple = ([], [], {}), k: int = 5, mode: str = "hybrid") -> tuple:
    return chat.respond(question, state[0], state[1], state[2], k, mode)


# --- the /ask API through gradio_client -------------------------------------------------------------------------


def test_ask_endpoint_returns_the_cli_json(app_url: str, fake_qa: QA) -> None:
    client = Client(app_url, verbose=False)
    got = client.predict(IOT_Q, api_name="/ask")
    assert got == fake_qa.ask(IOT_Q).to_dict()
    assert "February 2011" in got["answer"] and got["citations"][0]["doc"] == "eu_china_expert_groups.txt"
    assert set(got) == {"question", "answer", "status", "abstained", "confidence", "answer_span", "citations",
                        "passages", "follow_up_of"}


def test_ask_endpoint_reports_bad_input_as_an_error_object(app_url: str) -> None:
    client = Client(app_url, verbose=False)
    assert client.predict("   ", api_name="/ask") == {
        "question": "   ", "error": "the question is empty: type a question about the documents"}
    got = client.predict("x" * 5000, api_name="/ask")
    assert set(got) == {"question", "error"} and "limit" in got["error"]


def test_only_ask_is_a_public_endpoint(app_url: str) -> None:
    api = Client(app_url, verbose=False).view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/ask"]
    assert not api["unnamed_endpoints"]


def test_corpus_and_index_files_are_not_served(app_url: str, fake_qa: QA) -> None:
    import urllib.error
    import urllib.request

    for path in (fake_qa.settings.corpus_dir / "eu_china_expert_groups.txt", fake_qa.settings.index_dir / "CURRENT"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{app_url}gradio_api/file={path}")
        assert err.value.code in (403, 404)


# --- handlers -----------------------------------------------------------------------------------------------------


def test_respond_appends_question_and_cited_answer(chat: ui.ChatApp) -> None:
    msgs, box, history, answers, current, evidence, passages = _ask(chat, IOT_Q)
    assert box == "" and history == [IOT_Q]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert "February 2011" in msgs[1]["content"] and 'data-cite="1">[1]</a></sup>' in msgs[1]["content"]
    assert "confidence" in msgs[1]["content"]
    assert isinstance(current, Answer) and answers == {1: current}
    assert "<mark" in evidence and "February 2011" in evidence and "line " in evidence
    assert "fused" in passages and "BM25" in passages


def test_settings_reach_the_pipeline(chat: ui.ChatApp) -> None:
    current = _ask(chat, IOT_Q, k=2, mode="bm25")[4]
    assert len(current.passages) == 2
    assert current.to_dict() == chat.qa.ask(IOT_Q, k=2, mode="bm25").to_dict()
    assert current.to_dict() != chat.qa.ask(IOT_Q, k=2, mode="dense").to_dict()


def test_followup_passes_earlier_questions_as_history(chat: ui.ChatApp, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, tuple]] = []
    real = chat.qa.ask

    def spy(question: str, **kw: object) -> Answer:
        seen.append((question, tuple(kw["history"])))  # type: ignore[arg-type]
        return real(question, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(chat.qa, "ask", spy)
    out = _ask(chat, "Tell me about the IoT Advisory Group")
    _ask(chat, "When was it set up?", (out[0], out[2], out[3]))
    assert seen == [("Tell me about the IoT Advisory Group", ()),
                    ("When was it set up?", ("Tell me about the IoT Advisory Group",))]


def test_errors_become_chat_messages(chat: ui.ChatApp) -> None:
    msgs, box, history, answers, *panels = _ask(chat, "  \n ")
    assert box == "" and len(msgs) == 1 and msgs[0]["role"] == "assistant"
    assert "cq-error" in msgs[0]["content"] and "the question is empty" in msgs[0]["content"]
    assert history == [] and answers == {}
    assert all(isinstance(p, type(gr.skip())) for p in panels)


def test_internal_errors_become_messages_not_tracebacks(chat: ui.ChatApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat.qa, "ask", lambda *a, **k: 1 / 0)
    msgs = _ask(chat, IOT_Q)[0]
    shown = html.unescape(msgs[-1]["content"])
    assert "internal error (ZeroDivisionError)" in shown and "Traceback" not in shown
    assert chat.api_ask(IOT_Q) == {"question": IOT_Q, "error": "internal error (ZeroDivisionError); "
                                   "the details are in the server log"}


def test_abstention_message(chat: ui.ChatApp) -> None:
    msgs, *_, current, evidence, passages = _ask(chat, "What is the capital of Australia?")
    assert current.abstained  # refused as out of corpus, with the hash embedder as with the real model
    assert "The documents don't say" in html.unescape(msgs[-1]["content"])
    assert "<mark" not in evidence and "fused" in passages


def test_vote_stores_feedback(chat: ui.ChatApp, fake_settings: Settings) -> None:
    msgs, _, _, answers, *_ = _ask(chat, IOT_Q)
    chat.vote(answers, gr.LikeData(None, {"index": 1, "value": msgs[1]["content"], "liked": True}))
    chat.vote(answers, gr.LikeData(None, {"index": 1, "value": msgs[1]["content"], "liked": False}))
    chat.vote(answers, gr.LikeData(None, {"index": 0, "value": "question", "liked": True}))  # not an answer
    rows = sqlite3.connect(fake_settings.index_dir / "feedback.sqlite").execute(
        "SELECT vote, question, answer, citations FROM feedback ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [1, -1]
    assert rows[0][1] == IOT_Q and "February 2011" in rows[0][2] and "eu_china_expert_groups.txt" in rows[0][3]


def test_select_shows_evidence_of_an_earlier_answer(chat: ui.ChatApp) -> None:
    first = _ask(chat, IOT_Q)
    second = _ask(chat, "Who led the Chinese side of the future internet group?", (first[0], first[2], first[3]))
    current, evidence, _ = chat.select(second[3], gr.SelectData(None, {"index": 1, "value": ""}))
    assert current is first[4] and "February 2011" in evidence
    on_question = chat.select(second[3], gr.SelectData(None, {"index": 0, "value": ""}))
    assert all(isinstance(x, type(gr.skip())) for x in on_question)


def test_open_document_marks_the_quote(chat: ui.ChatApp) -> None:
    current = _ask(chat, IOT_Q)[4]
    html, tabs = chat.open_document(current, gr.EventData(None, {"cite": 1, "rank": 0}))
    assert 'id="cq-target"' in html and "February 2011" in html and "Expert Group on Future Internet" in html
    assert tabs.selected == "document"
    html, _ = chat.open_document(current, gr.EventData(None, {"cite": 0, "rank": 2}))
    assert 'id="cq-target"' in html
    assert all(isinstance(x, type(gr.skip())) for x in chat.open_document(None, gr.EventData(None, {"cite": 1})))


def test_documents_panel_lists_sizes(chat: ui.ChatApp) -> None:
    out = html.unescape(chat.documents_panel())
    assert "eu_china_expert_groups.txt" in out and "1 document indexed" in out and "KB" in out


def test_upload_reindexes_while_asks_keep_working(chat: ui.ChatApp, tmp_path: Path) -> None:
    src = tmp_path / "up" / "lund museum.txt"
    src.parent.mkdir()
    src.write_text(NEW_DOC)
    steps: list[tuple] = []

    def slow_progress(value: object, desc: str | None = None, unit: str = "") -> None:
        steps.append((value, desc))
        time.sleep(0.3)

    out: dict[str, object] = {}
    chat.upload_dir = src.parent  # as if Gradio had received it
    worker = threading.Thread(target=lambda: out.update(r=chat.upload([str(src)], slow_progress)))
    worker.start()
    answered = 0
    while worker.is_alive():  # the old index answers while the new one is built and swapped in
        assert "February 2011" in (chat.ask(IOT_Q).answer or "")
        answered += 1
    worker.join()
    library, status, cleared = (html.unescape(x) if x else x for x in out["r"])  # type: ignore[attr-defined]
    assert answered > 0 and steps and cleared is None
    assert "Added lund museum.txt" in status and "Index updated: 2 documents" in status
    assert "lund museum.txt" in library and "2 documents indexed" in library
    assert (chat.qa.settings.corpus_dir / "lund museum.txt").read_text() == NEW_DOC
    got = chat.ask("When did the Xylophone Museum of Lund open?")
    assert got.citations and got.citations[0].doc == "lund museum.txt"


def test_asks_survive_repeated_index_swaps(chat: ui.ChatApp) -> None:
    corpus, errors, done = chat.qa.settings.corpus_dir, [], threading.Event()

    def rebuild() -> None:
        for i in range(8):
            (corpus / f"note{i}.txt").write_text(f"Note {i} is about zebra number {i}.\n")
            chat.qa.build()
        done.set()

    def keep_asking() -> None:
        while not done.is_set():
            try:
                assert "February 2011" in (chat.ask(IOT_Q).answer or "")
            except Exception as exc:  # any failure of an ask during a swap is a bug
                errors.append(repr(exc))

    threads = [threading.Thread(target=rebuild), *(threading.Thread(target=keep_asking) for _ in range(3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(chat.qa.documents()) == 9


def test_upload_refuses_bad_files_with_a_message(chat: ui.ChatApp, tmp_path: Path) -> None:
    bad = tmp_path / "up" / "tool.exe"
    bad.parent.mkdir()
    bad.write_bytes(b"MZ")
    chat.upload_dir = bad.parent
    library, status, _ = (html.unescape(x) if x else x for x in chat.upload([str(bad)]))
    assert "unsupported type" in status and "cq-error" in status and "1 document indexed" in library
    assert not (chat.qa.settings.corpus_dir / "tool.exe").exists()


# --- serve and the CLI --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                               ("0.0.0.0", False), ("192.168.1.5", False), ("example.com", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert server.is_loopback(host) is loopback


@pytest.fixture()
def no_launch(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    from citeqa.app import server

    calls: list[tuple] = []
    monkeypatch.setattr(ui, "launch", lambda demo, host, port, share: calls.append((host, port, share)))
    monkeypatch.setattr(server, "run_app", lambda app, host, port: calls.append((host, port, False)))
    return calls


def test_serve_builds_a_missing_index_and_serves_on_loopback(
    fake_settings: Settings, no_launch: list, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.serve(fake_settings) == 0
    assert no_launch == [("127.0.0.1", 7860, False)]
    assert (fake_settings.index_dir / "CURRENT").exists()
    assert "warning" not in capsys.readouterr().err


def test_serve_refreshes_a_stale_index(fake_qa: QA, no_launch: list) -> None:
    (fake_qa.settings.corpus_dir / "new.txt").write_text(NEW_DOC)
    server.serve(fake_qa.settings)
    assert "new.txt" in [p for p, _, _ in QA(fake_qa.settings).documents()]


def test_serve_warns_about_public_binding_and_share(
    fake_settings: Settings, no_launch: list, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve(fake_settings, host="0.0.0.0", port=9999, share=True, allowed=["*"])
    err = capsys.readouterr().err
    assert "WARNING: binding 0.0.0.0 WITHOUT AN ACCESS TOKEN" in err and "reachable from other machines" in err
    assert "PUBLIC" in err and no_launch == [("0.0.0.0", 9999, True)]


def test_cli_serve_passes_options(fake_settings: Settings, no_launch: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_MODEL", "hash")
    code = main(["serve", "--corpus", str(fake_settings.corpus_dir), "--index", str(fake_settings.index_dir),
                 "--port", "8123"])
    assert code == 0 and no_launch == [("127.0.0.1", 8123, False)]


def test_citeqa_serve_subprocess_answers_through_the_api(fake_settings: Settings) -> None:
    port = free_port()
    env = {**os.environ, "CITEQA_MODEL": "hash", "GRADIO_ANALYTICS_ENABLED": "False"}
    cmd = [sys.executable, "-m", "citeqa.app.cli", "serve", "--corpus", str(fake_settings.corpus_dir),
           "--index", str(fake_settings.index_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, proc.communicate()[0]
        got = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(IOT_Q, api_name="/ask")
        assert "February 2011" in got["answer"]
        assert (fake_settings.index_dir / "CURRENT").exists(), "serve built the missing index"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "warning" not in out and "Traceback" not in out


@pytest.mark.integration
def test_followup_question_with_the_real_model(real_qa: QA) -> None:
    chat = ui.ChatApp(real_qa)
    first = _ask(chat, "Tell me about the IoT Advisory Group")
    msgs, _, history, answers, current, evidence, _ = _ask(chat, "When was it set up?", (first[0], first[2], first[3]))
    assert history == ["Tell me about the IoT Advisory Group", "When was it set up?"]
    assert current.passages[0].chunk.section == "EU-China IoT Advisory Group"
    assert not current.abstained
    assert "February 2011" in current.answer
    assert "February 2011" in msgs[-1]["content"] and "<mark" in evidence
    assert current.follow_up_of == ("Tell me about the IoT Advisory Group",)
    assert "Read as a follow-up to" in msgs[-1]["content"]
    # then a question that names another topic: answered from it, not from the IoT group
    msgs, _, history, _, current, _, _ = _ask(chat, "When was the Broadband Policy Expert Group established?",
                                              (msgs, history, answers))
    assert "December 2012" in (current.answer or "") and current.follow_up_of == ()
    assert "Read as a follow-up" not in msgs[-1]["content"]
