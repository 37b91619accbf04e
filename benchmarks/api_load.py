"""The REST API under load, against the in-process pipeline measured in the same run (issue #12).

    .venv/bin/python benchmarks/api_load.py [--model default|hash] [--clients 20] [--requests 1500]

1. In-process: one thread calls ``QA.ask`` for every question (after a warm-up pass): the baseline rate.
2. ``citeqa serve`` (chat app mounted, the default) on a free loopback port; ``--clients`` threads, each with
   its own keep-alive connection, POST ``/api/v1/ask`` until ``--requests`` answers are in. Every answer is
   compared with the in-process answer to the same question (answer text and citations): *wrong* counts the
   differences, *dropped* the requests that failed or timed out.
3. The same load while a re-index swaps in: a new document is written to the corpus and ``citeqa index``
   runs in another process; answers may come from the old or the new index (either counts as right).
4. Idle CPU of ``citeqa serve`` and of ``citeqa serve --api-only``, each over ``--idle`` seconds with no
   requests (``/proc/<pid>/stat``, user + system time).

Writes ``benchmarks/results/api_load.json`` and prints a table. Bounded: every request times out after 30 s and
every server started here is stopped on exit.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "benchmarks" / "results" / "api_load.json"
QUESTIONS_FILE = ROOT / "tests" / "data" / "seed_qa.jsonl"
TICKS = os.sysconf("SC_CLK_TCK")


def env(model: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    e.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
             GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1")
    if model != "default":
        e["CITEQA_MODEL"] = model
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def citeqa(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script) if script.exists() else sys.executable, *([] if script.exists() else
            ["-m", "citeqa.app.cli"]), *args]


def start(corpus: Path, index: Path, model: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(citeqa("serve", "--corpus", str(corpus), "--index", str(index), "--port", str(port),
                                   *extra), env=env(model), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"citeqa serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def key(d: dict) -> tuple:
    return d.get("answer"), tuple((c["doc"], c["start"], c["end"]) for c in d.get("citations", []))


def load(port: int, questions: list[str], expected: dict[str, set], clients: int, total: int,
         during: threading.Thread | None = None) -> dict:
    """``total`` requests from ``clients`` threads; latencies, throughput, dropped and wrong answers (checked
    against ``expected`` once the run and ``during`` are over, so ``during`` may add to it)."""
    lock = threading.Lock()
    counter = iter(range(total))
    lat: list[float] = []
    got: list[tuple[str, tuple]] = []
    dropped = 0

    def client() -> None:
        nonlocal dropped
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            q = questions[i % len(questions)]
            body = json.dumps({"question": q})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/ask", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = json.loads(resp.read())
                ok = resp.status == 200
            except (OSError, ValueError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok, data = False, {}
            dt = time.perf_counter() - t0
            with lock:
                if not ok:
                    dropped += 1
                else:
                    lat.append(dt)
                    got.append((q, key(data)))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    if during is not None:
        during.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if during is not None:
        during.join()
    lat.sort()
    wrong = sum(k not in expected[q] for q, k in got)
    return {"requests": total, "answered": len(lat), "dropped": dropped, "wrong": wrong, "seconds": wall,
            "throughput_qps": len(lat) / wall, "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "max_ms": 1000 * lat[-1]}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def idle_cpu(corpus: Path, index: Path, model: str, seconds: float, *extra: str) -> float:
    proc, _ = start(corpus, index, model, *extra)
    try:
        time.sleep(3)  # let start-up work finish
        a = cpu_seconds(proc.pid)
        time.sleep(seconds)
        return 100 * (cpu_seconds(proc.pid) - a) / seconds
    finally:
        stop(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--idle", type=float, default=20.0)
    args = ap.parse_args()
    os.environ.update(env(args.model))
    from citeqa.config import Settings
    from citeqa.qa import QA

    work = Path(tempfile.mkdtemp(prefix="citeqa-load-"))
    try:
        corpus, index = work / "corpus", work / "index"
        shutil.copytree(ROOT / "corpus", corpus)
        settings = Settings(corpus_dir=corpus, index_dir=index, **({} if args.model == "default" else
                                                                     {"model": args.model}))
        qa = QA(settings)
        qa.build()
        questions = [json.loads(line)["q"] for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
        for q in questions:
            qa.ask(q)
        t0 = time.perf_counter()
        expected = {q: {key(qa.ask(q).to_dict())} for q in questions}
        inproc_qps = len(questions) / (time.perf_counter() - t0)
        proc, port = start(corpus, index, args.model)
        try:
            load(port, questions, expected, args.clients, len(questions))  # warm the server
            steady = load(port, questions, expected, args.clients, args.requests)
            (corpus / "lund.txt").write_text("The Xylophone Museum of Lund opened its doors in March 1987.\n")
            after = {q: set() for q in questions}

            def reindex() -> None:
                time.sleep(1.0)
                subprocess.run(citeqa("index", "--corpus", str(corpus), "--index", str(index)), env=env(args.model),
                               check=True, capture_output=True)
                fresh = QA(settings)
                for q in questions:
                    after[q].add(key(fresh.ask(q).to_dict()))

            both = {q: set(expected[q]) for q in questions}

            def reindex_then_allow_new_answers() -> None:
                reindex()
                for q in questions:  # answers from the new index count as right too
                    both[q] |= after[q]

            swapping = load(port, questions, both, args.clients, args.requests,
                            during=threading.Thread(target=reindex_then_allow_new_answers))
            swapping["answers_changed_by_reindex"] = sum(after[q] != expected[q] for q in questions)
        finally:
            stop(proc)
        idle_full = idle_cpu(corpus, index, args.model, args.idle)
        idle_api = idle_cpu(corpus, index, args.model, args.idle, "--api-only")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "")
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(), "model": args.model,
              "clients": args.clients, "in_process_qps": inproc_qps, "steady": steady, "during_reindex": swapping,
              "ratio_to_in_process": steady["throughput_qps"] / inproc_qps,
              "idle_cpu_percent": {"serve": idle_full, "serve --api-only": idle_api}}
    OUT.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; model {args.model}; {args.clients} clients")
    print(f"in-process QA.ask, one thread: {inproc_qps:.1f} q/s")
    for name, r in (("steady", steady), ("during a re-index", swapping)):
        print(f"{name:18s} {r['throughput_qps']:.1f} q/s ({r['throughput_qps'] / inproc_qps:.0%} of in-process), "
              f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, max {r['max_ms']:.0f} ms, "
              f"dropped {r['dropped']}, wrong {r['wrong']}")
    print(f"idle CPU: serve {idle_full:.1f}%, serve --api-only {idle_api:.1f}% of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
