"""The Ray engine on a real two-node cluster on this host (loopback, one CPU each, stopped at the end).

Index builds (`citeqa index --engine ray --shards 3`) against the local engine on the same corpus, an
incremental re-index, a worker node killed mid-build, the REST API on Ray Serve replicas through a rebuild,
and the messages when Ray is missing or the cluster cannot be reached.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from citeqa.config import Settings
from citeqa.eval.evaluate import load_gold
from citeqa.index.live import load_index
from citeqa.qa import QA

ray = pytest.importorskip("ray", reason="the ray extra is not installed (make test installs it)")
pytestmark = [pytest.mark.cluster, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
RAY = Path(sys.executable).with_name("ray")
WORDS = ("harbour lighthouse keeper ferry island museum bridge tower canal market river station garden "
         "library theatre council school mill quarry orchard bakery chapel").split()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("CITEQA_", "RAY_ADDRESS"))}
    e.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", RAY_USAGE_STATS_ENABLED="0", NO_PROXY="127.0.0.1")
    return e


@dataclass
class Cluster:
    address: str
    head: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]


def _node(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(RAY), "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
                            env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _alive_nodes(address: str) -> int:
    done = subprocess.run([str(RAY), "status", "--address", address], env=env(), capture_output=True, text=True,
                          timeout=60, check=False)
    return done.stdout.count(" node_") if done.returncode == 0 else 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = _node(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false"])
    worker = None
    try:
        deadline = time.monotonic() + 120
        while _alive_nodes(address) < 1:
            assert time.monotonic() < deadline and head.poll() is None, "the head node did not start"
            time.sleep(1)
        worker = _node([f"--address={address}", "--node-ip-address=127.0.0.1"])
        while _alive_nodes(address) < 2:
            assert time.monotonic() < deadline and worker.poll() is None, "the worker node did not join"
            time.sleep(1)
        yield Cluster(address, head, worker)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)


def generated(folder: Path, n: int = 300) -> None:
    """The seed document and ``n`` small distinct documents."""
    import random

    rng = random.Random(7)
    shutil.copytree(ROOT / "corpus", folder)
    for i in range(n):
        a, b = rng.sample(WORDS, 2)
        year = 1700 + rng.randrange(300)
        (folder / f"place{i:03d}.md").write_text(
            f"# The {a} of Place{i:03d}\n\nThe {a} of Place{i:03d} was built in {year} by the {b} guild. "
            f"It stands {rng.randrange(2, 900)} metres from the old {b}.\n", encoding="utf-8")


def citeqa(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "citeqa.app.cli", *args], env=env(), capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def built(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Settings, str]:
    root = tmp_path_factory.mktemp("ray")
    generated(root / "corpus")
    local = Settings(corpus_dir=root / "corpus", index_dir=root / "local")
    on_ray = Settings(corpus_dir=root / "corpus", index_dir=root / "ray")
    assert not QA(local).build().up_to_date
    done = citeqa("index", "--engine", "ray", "--address", cluster.address, "--shards", "3",
                  "--corpus", str(on_ray.corpus_dir), "--index", str(on_ray.index_dir))
    assert done.returncode == 0, done.stderr
    return local, on_ray, done.stdout


def test_the_build_ran_on_both_nodes_in_three_shards(built: tuple[Settings, Settings, str]) -> None:
    _, _, out = built
    assert "indexed 301 documents" in out and "in 3 shards" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("work ran on"))
    assert line.startswith("work ran on 2 node(s)"), out


def test_chunks_offsets_and_vectors_equal_a_local_build(built: tuple[Settings, Settings, str]) -> None:
    local, on_ray, _ = built
    a, b = load_index(local), load_index(on_ray)
    assert len(b.shards) == 3
    rows = list(range(a.store.n_chunks))
    ca, cb = a.store.chunks(rows), b.store.chunks(rows)
    assert [(c.id, c.doc, c.start, c.end, c.text, c.sentences) for c, _, _ in ca.values()] == \
           [(c.id, c.doc, c.start, c.end, c.text, c.sentences) for c, _, _ in cb.values()]
    va = np.asarray(a.sentence_vectors[0 : a.store.n_sentences], dtype=np.float32)
    vb = np.concatenate([np.asarray(s.sentence_vectors, dtype=np.float32) for s in b.shards])
    # bfloat16 passes over other batches (and float16 storage): measured at worst cosine 0.99989 on 649 sentences
    assert va.shape == vb.shape and float((va * vb).sum(axis=1).min()) > 0.9998


def _answer(d: dict) -> tuple:
    """What must be identical: the answer, its citations, the top passage and the set of passages retrieved. The
    order of the lower passages is not compared: vectors from passes in other precisions or batches (bf16 on one
    node, float32 on another) move near-equal fused scores past each other."""
    passages = [(p["doc"], p["start"], p["end"]) for p in d["passages"]]
    return (d["status"], d["answer"], d["answer_span"],
            [(c["doc"], c["section"], c["start"], c["end"], c["quote"]) for c in d["citations"]],
            passages[:1], sorted(passages))


def test_the_seed_gold_set_gets_identical_answers(built: tuple[Settings, Settings, str]) -> None:
    """The same answers, quotes, offsets and passages; scores may differ in the fourth decimal (the vectors come
    from bfloat16 passes over other batches)."""
    local, on_ray, _ = built
    one, sharded = QA(local), QA(on_ray)
    questions = [item.q for item in load_gold(SEED_QA)] + ["When was the mill of Place010 built?"]
    for q in questions:
        a, b = sharded.ask(q).to_dict(), one.ask(q).to_dict()
        assert _answer(a) == _answer(b), q
        assert abs(a["confidence"] - b["confidence"]) < 0.01, q


def test_a_changed_file_reembeds_only_its_text(cluster: Cluster, built: tuple[Settings, Settings, str]) -> None:
    _, on_ray, _ = built
    path = on_ray.corpus_dir / "place005.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new gate was added in 2001.\n", encoding="utf-8")
    done = citeqa("index", "--engine", "ray", "--address", cluster.address, "--corpus", str(on_ray.corpus_dir),
                  "--index", str(on_ray.index_dir))
    assert done.returncode == 0, done.stderr
    embedded = int(done.stdout.split(" embedded")[0].rsplit("(", 1)[1])
    assert 0 < embedded <= 4 and "in 3 shards" in done.stdout, done.stdout
    assert "A new gate was added in 2001." in (QA(on_ray).ask("When was a new gate added?").answer or "")
    again = citeqa("index", "--engine", "ray", "--address", cluster.address, "--corpus", str(on_ray.corpus_dir),
                   "--index", str(on_ray.index_dir))
    assert "index is up to date" in again.stdout


def test_the_rest_api_on_ray_serve_replicas_through_a_rebuild(cluster: Cluster,
                                                              built: tuple[Settings, Settings, str]) -> None:
    _, on_ray, _ = built
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "citeqa.app.cli", "serve", "--engine", "ray", "--address",
                             cluster.address, "--replicas", "2", "--port", str(port), "--corpus",
                             str(on_ray.corpus_dir), "--index", str(on_ray.index_dir)], env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        def ask(q: str) -> tuple[int, dict]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/api/v1/ask", body=json.dumps({"question": q}),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            try:
                return r.status, json.loads(body)
            except ValueError:
                return r.status, {"raw": body[:300].decode(errors="replace")}

        deadline = time.monotonic() + 240
        while True:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if ask("When was the mill of Place010 built?")[0] == 200:
                    break
            except (OSError, ValueError):
                time.sleep(1)
        failures: list[object] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                try:
                    status, got = ask("When was the EU-China IoT Advisory Group established?")
                    if status != 200 or "raw" in got:
                        failures.append((status, got))
                except (OSError, ValueError) as exc:
                    failures.append(exc)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        (on_ray.corpus_dir / "lund.txt").write_text("The Xylophone Museum of Lund opened in March 1987.\n")
        assert QA(on_ray.with_(shards=3)).build().shards == 3
        deadline = time.monotonic() + 30
        got: dict = {}
        while time.monotonic() < deadline:
            got = ask("When did the Xylophone Museum of Lund open?")[1]
            if "March 1987" in (got.get("answer") or ""):
                break
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        assert "March 1987" in (got.get("answer") or ""), got
        assert failures == [], failures[:5]
    finally:
        _stop(proc)


def test_killing_the_worker_mid_build_completes_or_fails_clearly(cluster: Cluster, tmp_path: Path) -> None:
    generated(tmp_path / "corpus", n=400)
    common = ["--corpus", str(tmp_path / "corpus"), "--index", str(tmp_path / "index")]
    first = citeqa("index", *common, "--model", "hash")  # a previous index (local) that must keep answering
    assert first.returncode == 0
    (tmp_path / "corpus" / "more.md").write_text("# More\n\nThe orchard of Place999 was planted in 1911.\n")
    proc = subprocess.Popen([sys.executable, "-m", "citeqa.app.cli", "index", "--engine", "ray", "--address",
                             cluster.address, *common], env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(8)  # reading done, embedding under way on both nodes
    _stop(cluster.worker)
    _, err = proc.communicate(timeout=900)
    assert "Traceback" not in err
    assert proc.returncode == 0 or (proc.returncode == 7 and "citeqa: error:" in err), (proc.returncode, err[-2000:])
    model = json.loads((tmp_path / "index" / "CURRENT").parent.joinpath(
        (tmp_path / "index" / "CURRENT").read_text().strip(), "manifest.json").read_text())["model"]
    assert (model == "hash") == (proc.returncode != 0), "a failed build leaves the previous index live"
    qa = QA(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=model))
    assert "February 2011" in (qa.ask("When was the EU-China IoT Advisory Group established?").answer or "")


def test_missing_ray_or_cluster_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    done = citeqa("index", "--engine", "ray", "--address", f"127.0.0.1:{free_port()}", "--corpus",
                  str(ROOT / "corpus"), "--index", str(tmp_path / "index"), timeout=300)
    assert done.returncode == 7 and done.stderr.startswith("citeqa: error: cannot reach a Ray cluster at 127.0.0.1:")
    from citeqa.app.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code = main(["index", "--engine", "ray", "--corpus", str(ROOT / "corpus"), "--index", str(tmp_path / "i2")])
    assert code == 7 and "pip install 'citeqa[ray]'" in capsys.readouterr().err
