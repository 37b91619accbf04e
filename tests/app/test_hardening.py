"""Hostile clients against a real `citeqa serve` process: forged upload events, Host and framing headers,
lone surrogates, and the handler's own upload-folder check."""

from __future__ import annotations

import http.client
import json
import os
import uuid
from pathlib import Path

import pytest
from tests.app.test_api import call, running

from citeqa.app import ui
from citeqa.app.uploads import check_uploaded, discard_upload
from citeqa.config import Settings
from citeqa.errors import InputError
from citeqa.qa import QA

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


def upload_event(port: int, path: Path, name: str) -> str:
    """Post the browser's upload event naming ``path`` (as a raw client can), and return the event's messages."""
    status, config = call(port, "GET", "/config")
    assert status == 200 and isinstance(config, dict)
    comp = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "cq-upload")
    dep = next(d for d in config["dependencies"] if [comp, "upload"] in [list(t) for t in d["targets"]])
    session = uuid.uuid4().hex
    data = {"path": str(path), "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    body = {"data": [[data]], "fn_index": dep["id"], "session_hash": session, "trigger_id": comp, "event_data": None}
    status, got = call(port, "POST", "/gradio_api/queue/join", body)
    assert status == 200, got
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/gradio_api/queue/data?session_hash={session}")
    resp = conn.getresponse()
    out = []
    while True:
        line = resp.readline().decode()
        if not line:
            break
        out.append(line)
        if "process_completed" in line:
            break
    conn.close()
    return "".join(out)


def test_the_upload_event_cannot_read_a_server_file(fake_settings: Settings, tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    secret = tmp_path_factory.mktemp("elsewhere") / "private_notes.txt"  # outside the server's upload folder
    secret.write_text("The vault code is 4417. Nobody outside this machine may read it.\n", encoding="utf-8")
    secret.chmod(0o600)
    with running(fake_settings) as (port, settings):
        events = upload_event(port, secret, "private_notes.txt")
        assert '"success":false' in events and "Added" not in events
        assert not (settings.corpus_dir / "private_notes.txt").exists()
        status, docs = call(port, "GET", "/api/v1/documents")
        assert status == 200 and "private_notes.txt" not in json.dumps(docs)
        status, got = call(port, "GET", "/api/v1/documents/private_notes.txt")
        assert status == 404
        status, got = call(port, "POST", "/api/v1/ask", {"question": "What is the vault code?", "min_confidence": 0})
        assert status == 200 and "4417" not in json.dumps(got)
    assert secret.read_text(encoding="utf-8").startswith("The vault code")  # and the file itself is untouched
    copies = [p for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file() and b"4417" in p.read_bytes()]
    assert copies == []  # not even copied into Gradio's cache


def test_the_upload_handler_refuses_paths_outside_the_upload_folder(fake_qa: QA, tmp_path_factory:
                                                                   pytest.TempPathFactory) -> None:
    secret = tmp_path_factory.mktemp("elsewhere") / "private_notes.txt"
    secret.write_text("The vault code is 4417.\n", encoding="utf-8")
    _, status, _ = ui.ChatApp(fake_qa).upload([str(secret)], lambda *a, **k: None)
    assert "not uploaded to this server" in status
    assert not (fake_qa.settings.corpus_dir / "private_notes.txt").exists() and secret.exists()


def test_check_uploaded_accepts_only_files_inside_the_upload_folder(tmp_path: Path) -> None:
    up = tmp_path / "gradio"
    (up / "abc").mkdir(parents=True)
    good = up / "abc" / "notes.txt"
    good.write_text("x", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("s", encoding="utf-8")
    assert check_uploaded(good, up) == good.resolve()
    link = up / "abc" / "link.txt"
    os.symlink(outside, link)
    for bad in (outside, link, up / "abc" / ".." / ".." / "secret.txt", up, up / "abc", up / "missing.txt"):
        with pytest.raises(InputError, match="not uploaded"):
            check_uploaded(bad, up)
    discard_upload(outside, up)  # never removes a file outside the folder
    assert outside.exists()
    discard_upload(good, up)
    assert not good.exists() and list((up / "abc").iterdir()) == [link]  # the folder stays while not empty
    link.unlink()
    (up / "abc" / "last.txt").write_text("y", encoding="utf-8")
    discard_upload(up / "abc" / "last.txt", up)
    assert not (up / "abc").exists() and up.is_dir()
