"""The chat app under load (issue #6): ``citeqa serve`` in a subprocess over a copy of the seed corpus (hash model),
20 concurrent ``gradio_client`` clients on loopback asking 200 questions through the ``/ask`` API; then the same
while another process rebuilds the index. Every answer must be right (identical to the in-process pipeline's), none
dropped, none an error. Everything is bounded by timeouts, and the server is stopped by pid at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest

from citeqa.config import Settings
from citeqa.qa import QA

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
IOT_Q = "When was the EU-China IoT Advisory Group established?"
QUESTIONS = (
    IOT_Q,
    "Who headed the EU members of the IoT Advisory Group?",
    "When was the Broadband Policy Expert Group established?",
    "When was the third and final Broadband Policy Expert Group meeting held?",
    "What did the Green Smart City group work on?",
    "物联网咨询组是什么时候成立的？",
    "   ",  # an invalid question: an error object, every time
    "🤖 When was the IoT Advisory Group established? 🎉",
)
NEW_DOC = "lund.txt"
NEW_TEXT = "Museums of Lund\n\nThe Xylophone Museum of Lund opened its doors in March 1987 with forty instruments.\n"
NEW_Q = "When did the Xylophone Museum of Lund open its doors?"
CLIENTS, ASKS = 20, 200
TIMEOUT = 60  # seconds for any one request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citeqa.app.cli"]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


@dataclass
class Server:
    url: str
    port: int
    corpus: Path
    index: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def settings(self) -> Settings:
        return Settings(corpus_dir=self.corpus, index_dir=self.index, model="hash")

    def expected(self) -> dict[str, dict]:
        """What the in-process pipeline says to each question, over the live index."""
        qa = QA(self.settings())
        out = {}
        for q in {*QUESTIONS, NEW_Q}:
            try:
                out[q] = qa.ask(q).to_dict()
            except Exception as exc:  # an invalid question: the API returns the same message
                out[q] = {"question": q, "error": str(exc)}
        return out


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    corpus, index, port = tmp_path / "corpus", tmp_path / "index", free_port()
    shutil.copytree(ROOT / "corpus", corpus)
    log = tmp_path / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([*console_script(), "serve", "--corpus", str(corpus), "--index", str(index),
                                 "--model", "hash", "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT,
                                env=child_env(), cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"citeqa serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"citeqa serve did not answer in 180 s:\n{log.read_text(errors='replace')}")
            time.sleep(0.25)
        yield Server(url, port, corpus, index, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
    out = log.read_text(errors="replace")
    assert "Traceback" not in out, out


def client(url: str):  # -> gradio_client.Client (imported lazily)
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": TIMEOUT})


def ask(c, question: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    got = c.submit(question, api_name="/ask").result(timeout=TIMEOUT)
    return got, time.perf_counter() - t0


def run_load(url: str, n_clients: int, n_asks: int, stop: threading.Event | None = None,
             progress: list[int] | None = None) -> list[tuple[str, dict | str, float]]:
    """``n_asks`` questions (round robin over :data:`QUESTIONS`) from ``n_clients`` clients; with ``stop``, each
    client goes on past its share until ``stop`` is set. Returns ``(question, answer or error text, seconds)``."""
    per_client = n_asks // n_clients
    results: list[tuple[str, dict | str, float]] = []
    lock = threading.Lock()

    def worker(w: int) -> None:
        try:
            c = client(url)
        except Exception as exc:  # reported as a failed request
            with lock:
                results.append(("<connect>", f"{type(exc).__name__}: {exc}", 0.0))
            return
        i = 0
        while i < per_client or (stop is not None and not stop.is_set()):
            q = QUESTIONS[(w + i) % len(QUESTIONS)]
            try:
                got, seconds = ask(c, q)
            except Exception as exc:  # a dropped or failed request
                got, seconds = f"{type(exc).__name__}: {exc}", float("nan")
            with lock:
                results.append((q, got, seconds))
                if progress is not None:
                    progress[0] += 1
            i += 1
            if stop is not None and time.monotonic() > hard_stop:
                break

    hard_stop = time.monotonic() + 240
    with ThreadPoolExecutor(n_clients) as pool:
        futures = [pool.submit(worker, w) for w in range(n_clients)]
        done, pending = wait(futures, timeout=300)
        assert not pending, "load did not finish in 300 s"
        for f in done:
            f.result()
    return results


def test_200_questions_from_20_clients_all_answered_right(server: Server) -> None:
    expected = server.expected()
    assert "February 2011" in expected[IOT_Q]["answer"]
    t0 = time.perf_counter()
    results = run_load(server.url, CLIENTS, ASKS)
    wall = time.perf_counter() - t0
    failures = [(q, got) for q, got, _ in results if got != expected[q]]
    assert len(results) == ASKS, "no question dropped"
    assert failures == [], failures[:3]
    assert all("error" in got for q, got, _ in results if not q.strip())
    latencies = sorted(s for _, _, s in results)
    p95 = latencies[int(0.95 * len(latencies)) - 1]
    print(f"\n{ASKS} questions, {CLIENTS} clients: {ASKS / wall:.1f} q/s, p95 {p95 * 1000:.0f} ms")
    assert p95 < 30


def test_reindex_by_another_process_during_load_swaps_in_without_a_failed_query(server: Server) -> None:
    before = server.expected()
    stop, progress = threading.Event(), [0]
    results: list = []
    load = threading.Thread(target=lambda: results.extend(run_load(server.url, CLIENTS, ASKS, stop, progress)))
    load.start()
    try:
        deadline = time.monotonic() + 120
        while progress[0] < 40 and time.monotonic() < deadline:  # the load is well under way
            time.sleep(0.05)
        (server.corpus / NEW_DOC).write_text(NEW_TEXT, encoding="utf-8")
        done = subprocess.run([*console_script(), "index", "--corpus", str(server.corpus), "--index",
                               str(server.index), "--model", "hash"], capture_output=True, text=True,
                              env=child_env(), timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        assert "indexed 2 documents" in done.stdout
        after = server.expected()
        watcher = client(server.url)
        deadline = time.monotonic() + 30
        while True:  # the app notices the new index by itself (it looks at most once a second)
            got, _ = ask(watcher, NEW_Q)
            if got.get("passages") and got["passages"][0]["doc"] == NEW_DOC:
                break
            assert time.monotonic() < deadline, "the app never picked up the rebuilt index"
            time.sleep(0.2)
        assert got == after[NEW_Q]
        seen_at = progress[0]
        while progress[0] < seen_at + 40 and time.monotonic() < deadline + 60:  # more load on the new index
            time.sleep(0.05)
    finally:
        stop.set()
        load.join(timeout=300)
    assert not load.is_alive()
    assert len(results) >= ASKS
    wrong = [(q, got) for q, got, _ in results if got not in (before[q], after[q])]
    assert wrong == [], wrong[:3]
    assert any(got == after[q] != before[q] for q, got, _ in results), "some answers came from the new index"


def test_server_listens_on_loopback_only(server: Server) -> None:
    """The listening socket is bound to 127.0.0.1 (read from /proc/net/tcp*), not to every interface."""
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == server.port:
                listening.append(address)
    assert listening == ["0100007F"], listening
    log = server.log.read_text(errors="replace")
    assert "gradio.live" not in log and "warning: binding" not in log and "PUBLIC" not in log
    try:  # and from this machine's own network address, nobody gets in
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            own = s.getsockname()[0]
    except OSError:
        own = "127.0.0.1"
    if not own.startswith("127."):
        with pytest.raises(OSError), socket.create_connection((own, server.port), timeout=3):
            pass
