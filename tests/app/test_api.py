"""The REST API against a real `citeqa serve` subprocess (hash embedder): routes, contract, errors, limits."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from citeqa.config import Settings
from citeqa.qa import QA

IOT_Q = "When was the EU-China IoT Advisory Group established?"
DOC = "eu_china_expert_groups.txt"
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(settings: Settings, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}, "CITEQA_MODEL": "hash",
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "citeqa.app.cli", "serve", "--corpus", str(settings.corpus_dir),
                             "--index", str(settings.index_dir), "--port", str(port), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server exited")
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the server did not come up")


def call(port: int, method: str, path: str, body: object = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict | str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    text = resp.read().decode()
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


@contextmanager
def running(settings: Settings, *extra: str) -> Iterator[tuple[int, Settings]]:
    """A `citeqa serve` subprocess over ``settings`` while the block runs."""
    proc, port = start(settings, *extra)
    try:
        yield port, settings
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Settings]]:
    """One server for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("api")
    shutil.copytree(Path(__file__).resolve().parents[2] / "corpus", root / "corpus")
    with running(Settings(corpus_dir=root / "corpus", index_dir=root / "index", model="hash")) as server:
        yield server


@pytest.fixture()
def own_server(fake_settings: Settings) -> Iterator[tuple[int, Settings]]:
    """A server of the test's own (it changes the corpus)."""
    with running(fake_settings) as server:
        yield server


def test_ask_is_the_json_contract_and_equals_the_library(served: tuple[int, Settings]) -> None:
    port, settings = served
    status, got = call(port, "POST", "/api/v1/ask", {"question": IOT_Q})
    assert status == 200 and isinstance(got, dict)
    assert got == QA(settings).ask(IOT_Q).to_dict()
    assert "February 2011" in got["answer"] and got["status"] == "answered"
    text = (settings.corpus_dir / DOC).read_text(encoding="utf-8")
    assert all(text[c["start"] : c["end"]] == c["quote"] for c in got["citations"])
    status, got = call(port, "POST", "/api/v1/ask", {"question": "When was it set up?", "k": 3, "mode": "bm25",
                                                     "min_confidence": 0, "history": ["Tell me about the IoT group"]})
    assert status == 200 and 1 <= len(got["passages"]) <= 3 and got["status"] == "answered"
    assert got["follow_up_of"] in ([], ["Tell me about the IoT group"])  # whichever reading was trusted more


def test_search_documents_and_slices(served: tuple[int, Settings]) -> None:
    port, settings = served
    text = (settings.corpus_dir / DOC).read_text(encoding="utf-8")
    status, got = call(port, "POST", "/api/v1/search", {"query": "broadband policy", "k": 2})
    assert status == 200 and len(got["passages"]) == 2
    assert all(text[p["start"] : p["end"]] == p["text"] for p in got["passages"])
    status, got = call(port, "GET", "/api/v1/documents")
    assert status == 200 and got == {"documents": [{"path": DOC, "format": "txt", "characters": len(text)}]}
    status, got = call(port, "GET", f"/api/v1/documents/{DOC}")
    assert status == 200 and got["text"] == text and got["pages"] == []
    status, got = call(port, "GET", f"/api/v1/documents/{DOC}?start=5&end=25")
    assert status == 200 and got["text"] == text[5:25] and (got["start"], got["end"]) == (5, 25)
    status, got = call(port, "GET", "/healthz")
    assert status == 200 and got["status"] == "ok" and got["documents"] == 1
    status, page = call(port, "GET", "/docs")
    assert status == 200 and "swagger" in str(page).lower()
    assert "cdn" not in str(page).lower() and "https://" not in str(page)  # offline: every file from this server
    for asset in ("/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css"):
        assert call(port, "GET", asset)[0] == 200
    status, spec = call(port, "GET", "/openapi.json")
    assert status == 200 and {"/api/v1/ask", "/api/v1/search", "/api/v1/documents", "/healthz"} <= set(spec["paths"])


@pytest.mark.parametrize(("method", "path", "body", "code", "fragment"), [
    ("POST", "/api/v1/ask", {"question": ""}, 400, "empty"),
    ("POST", "/api/v1/ask", {"question": "x" * 3000}, 400, "the limit is 2,000"),
    ("POST", "/api/v1/ask", {"question": IOT_Q, "k": 0}, 400, "between 1 and 100"),
    ("POST", "/api/v1/ask", {"question": IOT_Q, "mode": "magic"}, 400, "mode must be one of"),
    ("POST", "/api/v1/ask", {"question": IOT_Q, "min_confidence": 2}, 400, "between 0 and 1"),
    ("POST", "/api/v1/ask", {"k": 3}, 422, "question"),
    ("POST", "/api/v1/ask", {"question": IOT_Q, "history": ["q"] * 50}, 400, "history"),
    ("POST", "/api/v1/search", {"query": IOT_Q, "k": "many"}, 422, "k"),
    ("GET", "/api/v1/documents/nope.txt", None, 404, "no document"),
    ("GET", f"/api/v1/documents/{DOC}?start=30&end=10", None, 400, "start <= end"),
    ("GET", f"/api/v1/documents/{DOC}?start=-1", None, 422, "start"),
    ("GET", "/api/v1/nothing-here", None, 404, "Not Found"),
])
def test_bad_requests_get_a_4xx_with_a_message(served: tuple[int, Settings], method: str, path: str, body: object,
                                               code: int, fragment: str) -> None:
    status, got = call(served[0], method, path, body)
    assert status == code and isinstance(got, dict) and set(got) == {"error"}, got
    assert fragment.lower() in got["error"].lower() and "Traceback" not in got["error"]


def test_bodies_are_capped_and_must_be_json(served: tuple[int, Settings]) -> None:
    port = served[0]
    status, got = call(port, "POST", "/api/v1/ask", raw=json.dumps({"question": "q" * 100_000}).encode())
    assert status == 413 and "over 64 KB" in got["error"]
    status, got = call(port, "POST", "/api/v1/ask", raw=b"{not json")
    assert status == 422 and "error" in got
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # chunked: no Content-Length
    conn.putrequest("POST", "/api/v1/ask")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    conn.send(b"5\r\n{\"q\":\r\n0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 411 and "Content-Length" in json.loads(resp.read())["error"]
    conn.close()


def test_the_chat_app_and_its_ask_endpoint_stay_on_the_same_server(served: tuple[int, Settings]) -> None:
    from gradio_client import Client

    port, _ = served
    status, page = call(port, "GET", "/")
    assert status == 200 and "gradio" in str(page).lower()
    got = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(IOT_Q, api_name="/ask")
    assert "February 2011" in got["answer"]


def test_api_only_serves_the_api_without_the_chat_app(fake_settings: Settings) -> None:
    proc, port = start(fake_settings, "--api-only")
    try:
        assert call(port, "POST", "/api/v1/ask", {"question": IOT_Q})[0] == 200
        status, got = call(port, "GET", "/")
        assert status == 404 and got == {"error": "Not Found"}
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode in (0, -15)


def test_a_rebuild_swaps_in_without_a_restart(own_server: tuple[int, Settings]) -> None:
    port, settings = own_server
    (settings.corpus_dir / "lund.txt").write_text("The Xylophone Museum of Lund opened in March 1987.\n")
    QA(settings).build()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        docs = call(port, "GET", "/api/v1/documents")[1]
        if len(docs["documents"]) == 2:
            break
        time.sleep(0.2)
    status, got = call(port, "POST", "/api/v1/ask", {"question": "When did the Xylophone Museum of Lund open?"})
    assert status == 200 and "March 1987" in (got["answer"] or "")


def test_cli_refuses_share_with_api_only(fake_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from citeqa.app.cli import main

    code = main(["serve", "--corpus", str(fake_settings.corpus_dir), "--index", str(fake_settings.index_dir),
                 "--model", "hash", "--share", "--api-only"])
    assert code == 2 and "do not go together" in capsys.readouterr().err


def test_api_routes_are_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for route in ("/api/v1/ask", "/api/v1/search", "/api/v1/documents", "/healthz", "--api-only", "citeqa mcp"):
        assert route in readme, route
