"""The Ray engine on this host: start-up cost, build throughput on 1 and 2 single-CPU nodes, sharded queries.

    .venv/bin/python benchmarks/ray_build.py [--docs 600] [--shards 3]

All in one run, on the Wikipedia benchmark corpus (``benchmarks/wiki_data.py``, the first ``--docs`` articles):

1. the local engine's build from an empty cache (texts embedded per second): the baseline;
2. a Ray cluster of one node with one CPU (``ray start --head --num-cpus=1``): its start-up time, the time to
   connect a driver, and ``citeqa index --engine ray`` from an empty cache;
3. the same with a second single-CPU node joined;
4. warm query p50 over the same questions on the unsharded index and on a ``--shards`` index of the corpus.

Honest about the machine: both "nodes" share this host's cores, so two nodes can at best double one node's
rate, and the driver and Ray's own processes take CPU from them. Writes ``benchmarks/results/ray_build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks" / "results" / "ray_build.json"
RAY = Path(sys.executable).with_name("ray")


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    e.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", RAY_USAGE_STATS_ENABLED="0")
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(RAY), "start", "--block", "--num-cpus=1", "--disable-usage-stats",
                             "--node-ip-address=127.0.0.1", *args], env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def alive(address: str) -> int:
    done = subprocess.run([str(RAY), "status", "--address", address], env=env(), capture_output=True, text=True,
                          check=False)
    return done.stdout.count(" node_") if done.returncode == 0 else 0


def wait_nodes(address: str, n: int) -> float:
    t0 = time.perf_counter()
    while alive(address) < n:
        if time.perf_counter() - t0 > 180:
            raise SystemExit("the cluster did not come up")
        time.sleep(0.2)
    return time.perf_counter() - t0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)


def index(corpus: Path, index_dir: Path, *extra: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "citeqa.app.cli", "index", "--corpus", str(corpus), "--index",
                           str(index_dir), *extra], env=env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - t0, done.stdout


def embedded(stdout: str) -> int:
    return int(stdout.split(" embedded")[0].rsplit("(", 1)[1])


def ray_build(corpus: Path, work: Path, nodes: int) -> dict:
    port = free_port()
    address = f"127.0.0.1:{port}"
    t0 = time.perf_counter()
    procs = [node(["--head", f"--port={port}", "--include-dashboard=false"])]
    try:
        head_up = wait_nodes(address, 1)
        if nodes > 1:
            procs.append(node([f"--address={address}"]))
            wait_nodes(address, nodes)
        started = time.perf_counter() - t0
        probe = subprocess.run([sys.executable, "-c", "import ray, time; t=time.perf_counter(); "
                                f"ray.init(address='{address}', include_dashboard=False, log_to_driver=False); "
                                "print(time.perf_counter()-t)"], env=env(), capture_output=True, text=True,
                               check=True)
        connect = float(probe.stdout.strip().splitlines()[-1])
        seconds, out = index(corpus, work / f"ray{nodes}", "--engine", "ray", "--address", address)
        return {"nodes": nodes, "cluster_start_s": started, "head_start_s": head_up, "driver_connect_s": connect,
                "build_s": seconds, "embedded": embedded(out), "texts_per_s": embedded(out) / seconds,
                "ran_on": next((ln for ln in out.splitlines() if ln.startswith("work ran on")), "")}
    finally:
        for p in reversed(procs):
            stop(p)


def query_p50(corpus: Path, index_dir: Path, questions: list[str]) -> float:
    from citeqa.config import Settings
    from citeqa.qa import QA

    qa = QA(Settings(corpus_dir=corpus, index_dir=index_dir))
    for q in questions:
        qa.ask(q)
    times = []
    for q in questions:
        t0 = time.perf_counter()
        qa.ask(q)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=600)
    ap.add_argument("--shards", type=int, default=3)
    args = ap.parse_args()
    os.environ.update(env())
    import wiki_data

    work = Path(tempfile.mkdtemp(prefix="citeqa-ray-"))
    try:
        corpus = wiki_data.build_corpus(limit=args.docs, folder=work / "corpus")
        local_s, out = index(corpus, work / "local")
        local = {"build_s": local_s, "embedded": embedded(out), "texts_per_s": embedded(out) / local_s}
        runs = [ray_build(corpus, work, 1), ray_build(corpus, work, 2)]
        index(corpus, work / "sharded", "--shards", str(args.shards))
        titles = sorted(p.stem.replace("_", " ") for p in corpus.glob("*.txt"))[:: max(1, args.docs // 60)]
        questions = [f"What is {t}?" for t in titles]
        p50 = {"unsharded_ms": query_p50(corpus, work / "local", questions),
               f"{args.shards}_shards_ms": query_p50(corpus, work / "sharded", questions)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "")
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(), "docs": args.docs,
              "local": local, "ray": runs, "two_over_one_node": runs[1]["texts_per_s"] / runs[0]["texts_per_s"],
              "query_p50": p50, "questions": len(questions)}
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
