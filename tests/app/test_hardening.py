"""Hostile clients against a real `citeqa serve` process: forged upload events, Host and framing headers,
lone surrogates, and the handler's own upload-folder check."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.app.test_api import call, running, served  # noqa: F401 (a fixture: one served seed)

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
    upload_dir = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    copies = [p for p in upload_dir.rglob("*") if p.is_file() and b"4417" in p.read_bytes()]
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


def raw_status(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes, return the status code and the raw response head."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
    head = data.split(b"\r\n\r\n", 1)[0]
    return (int(head.split()[1]) if head else 0), head


def test_hosts_origins_and_framing(served: tuple[int, Settings]) -> None:  # noqa: F811 (the fixture)
    port, _ = served
    for path in ("/healthz", "/", "/api/v1/documents"):
        status, head = raw_status(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert status == 200, (path, head)
        assert b"x-frame-options: DENY" in head and b"frame-ancestors 'none'" in head
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io"):  # DNS rebinding sends its own name
        status, _ = raw_status(port, f"GET /api/v1/documents HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert status == 400, host
    status, _ = raw_status(port, f"GET /api/v1/documents HTTP/1.1\r\nHost: localhost:{port}\r\n"
                                 "Origin: http://evil.example\r\n\r\n".encode())
    assert status == 403
    status, _ = raw_status(port, f"GET /api/v1/documents HTTP/1.1\r\nHost: localhost:{port}\r\n"
                                 f"Origin: http://localhost:{port}\r\n\r\n".encode())
    assert status == 200


def test_lone_surrogates_get_400_not_500(served: tuple[int, Settings]) -> None:  # noqa: F811
    port, _ = served
    for path, body in (("/api/v1/search", b'{"query": "broadband \\ud800"}'),
                       ("/api/v1/ask", b'{"question": "When \\udc00?"}'),
                       ("/api/v1/ask", b'{"question": "When was the IoT group set up?", "history": ["a \\ud800"]}')):
        status, got = call(port, "POST", path, raw=body)
        assert status == 400 and "lone surrogate" in got["error"], (path, got)
    status, got = call(port, "POST", "/api/v1/ask", {"question": "When\x1b[2J was the\x07 IoT group set up?",
                                                     "history": ["tell me\x00 about IoT"]})
    assert status == 200 and "\x1b" not in got["question"]


def test_limits_on_headers_bodies_and_slow_clients(served: tuple[int, Settings]) -> None:  # noqa: F811
    port, _ = served
    big = "x" * (200 * 1024)
    status, _ = raw_status(port, f"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n".encode())
    assert status in (400, 431, 0)  # refused, or the connection closed: never a 200
    status, _ = call(port, "POST", "/gradio_api/queue/join", raw=b"{" + b" " * (100 * 1024) + b"}")
    assert status == 413
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # and never the blank line
    t0 = time.monotonic()
    assert slow.recv(100) == b""  # closed by the server
    assert time.monotonic() - t0 < 25
    slow.close()


def test_token_guards_the_api_and_the_app(seed_copy: Path, tmp_path: Path) -> None:
    settings = Settings(corpus_dir=seed_copy, index_dir=tmp_path / "index", model="hash")
    with running(settings, "--token", "s3cret-token") as (port, _):
        assert call(port, "GET", "/healthz")[0] == 200
        assert call(port, "GET", "/api/v1/documents")[0] == 401
        assert call(port, "GET", "/api/v1/documents", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert call(port, "GET", "/api/v1/documents", headers={"Authorization": "Bearer s3cret-token"})[0] == 200
        assert call(port, "GET", "/config")[0] == 401
        status, head = raw_status(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: text/html\r\n\r\n")
        assert status == 303 and b"location: /login" in head
        assert call(port, "POST", "/login", raw=b"token=nope")[0] == 401
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/login", body=b"token=s3cret-token",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        cookie = resp.getheader("set-cookie") or ""
        assert resp.status == 303 and "citeqa_token=s3cret-token" in cookie and "HttpOnly" in cookie
        conn.close()
        assert call(port, "GET", "/config", headers={"Cookie": cookie.split(";")[0]})[0] == 200


@pytest.mark.parametrize(("extra", "code", "fragment"), [
    (["--port", "70000"], 2, "not a TCP port"),
    (["--host", "0.0.0.0"], 2, "--allowed-host"),
    (["--host", "no-such-host.invalid"], 8, "cannot listen"),
    (["--engine", "ray", "--token", "s3cret"], 2, "are for the local engine"),  # Ray Serve would not enforce it
    (["--engine", "ray", "--allowed-host", "docs.example"], 2, "are for the local engine"),
])
def test_bad_listen_options_get_a_citeqa_message(fake_settings: Settings, extra: list[str], code: int,
                                                  fragment: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "citeqa.app.cli", "serve", "--corpus", str(fake_settings.corpus_dir),
                           "--index", str(fake_settings.index_dir), "--model", "hash", *extra],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == code and fragment in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_port_in_use_is_a_citeqa_message(fake_settings: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-m", "citeqa.app.cli", "serve", "--corpus",
                               str(fake_settings.corpus_dir), "--index", str(fake_settings.index_dir), "--model",
                               "hash", "--port", str(port)], env=env, capture_output=True, text=True, timeout=120,
                              check=False)
    assert done.returncode == 8 and "cannot listen" in done.stderr and "Traceback" not in done.stderr


def test_serve_and_mcp_start_while_a_build_holds_the_lock(fake_settings: Settings) -> None:
    import fcntl

    from citeqa.qa import QA as _QA

    _QA(fake_settings).build()
    with open(fake_settings.index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `citeqa index` holds it
        with running(fake_settings) as (port, _):
            status, got = call(port, "POST", "/api/v1/ask", {"question": "When was the IoT group established?"})
            assert status == 200 and "February 2011" in json.dumps(got)


def test_serve_starts_on_a_read_only_index(fake_settings: Settings, tmp_path: Path) -> None:
    from citeqa.qa import QA as _QA

    _QA(fake_settings).build()
    with read_only(fake_settings.index_dir, tmp_path / "ro-index") as ro:
        assert not _writable(ro)
        with running(Settings(corpus_dir=fake_settings.corpus_dir, index_dir=ro, model="hash")) as (port, _):
            status, got = call(port, "POST", "/api/v1/ask", {"question": "When was the IoT group established?"})
            assert status == 200 and "February 2011" in json.dumps(got)


@contextmanager
def read_only(index: Path, ro: Path) -> Iterator[Path]:
    """``index`` seen read-only at ``ro``: a read-only bind mount when the tests run as root (root ignores file
    modes), else a copy with every write bit removed."""
    ro.mkdir()
    if os.geteuid() != 0:
        shutil.copytree(index, ro, dirs_exist_ok=True)
        paths = [ro, *ro.rglob("*")]
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            yield ro
        finally:
            for p in paths:
                p.chmod(p.stat().st_mode | 0o200)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(index), str(ro)], capture_output=True, check=False)
    if mounted.returncode != 0:  # root in a container without the right to mount: no folder it cannot write
        pytest.skip(f"root cannot make a read-only folder here: mount failed ({mounted.stderr.strip()})")
    try:
        yield ro
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True, check=False)


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True
