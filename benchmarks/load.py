"""The chat app under load: throughput and latency of the ``/ask`` API with many concurrent clients.

Starts ``citeqa serve`` on a free loopback port over a temporary copy of a corpus (the seed corpus by default),
waits for it, then sends ``--questions`` questions from ``--clients`` concurrent ``gradio_client`` clients (threads
of this process) and reports throughput, latency percentiles, errors and wrong answers (each answer is compared
with the in-process pipeline's answer to the same question over the same index). With ``--url`` it loads a server
that is already running instead (and does not check answers).

    python benchmarks/load.py                          # hash embedder: the app's own overhead
    python benchmarks/load.py --model default          # the bundled all-MiniLM-L6-v2 model
    python benchmarks/load.py --clients 50 --questions 1000 --json

Everything is bounded: one request times out after ``--timeout`` seconds, the run after ``--max-seconds``, and
the server it started is stopped (by its pid) on exit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "When was the EU-China IoT Advisory Group established?",
    "Who headed the EU members of the IoT Advisory Group?",
    "When was the Broadband Policy Expert Group established?",
    "When was the third and final Broadband Policy Expert Group meeting held?",
    "What did the Green Smart City group work on?",
    "Which topics did the IoT Advisory Group discuss?",
    "Who chaired the Broadband Policy Expert Group?",
    "What is the purpose of the EU-China expert groups?",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return env


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("citeqa")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citeqa.app.cli"]


def start_server(corpus: Path, index: Path, model: str | None, log: Path,
                 timeout: float = 600) -> tuple[subprocess.Popen[bytes], str]:
    """``citeqa serve`` on a free loopback port; returns the process and its URL once it answers."""
    port = free_port()
    cmd = [*console_script(), "serve", "--corpus", str(corpus), "--index", str(index), "--port", str(port)]
    if model:
        cmd += ["--model", model]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env())
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"citeqa serve exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.25)
    stop_server(proc)
    raise SystemExit(f"citeqa serve did not answer in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def expected_answers(corpus: Path, index: Path, model: str | None) -> tuple[dict[str, dict], float]:
    """The in-process pipeline's answer to each question, and its mean latency (ms) per ask."""
    from citeqa.config import load_settings
    from citeqa.qa import QA

    qa = QA(load_settings(corpus_dir=corpus, index_dir=index, model=model))
    out = {q: qa.ask(q).to_dict() for q in QUESTIONS}  # warm
    t0 = time.perf_counter()
    for _ in range(3):
        for q in QUESTIONS:
            qa.ask(q)
    return out, (time.perf_counter() - t0) * 1000 / (3 * len(QUESTIONS))


class HttpClient:
    """The Gradio REST protocol with the standard library: POST ``/gradio_api/call/ask``, then read the event stream.
    Much lighter than ``gradio_client`` (whose CPU cost, on a small machine, caps the load it can generate)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.base, self.timeout = url.rstrip("/") + "/gradio_api/call/ask", timeout

    def ask(self, question: str) -> object:
        body = json.dumps({"data": [question]}).encode()
        req = urllib.request.Request(self.base, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            event_id = json.load(resp)["event_id"]
        with urllib.request.urlopen(f"{self.base}/{event_id}", timeout=self.timeout) as resp:
            event = ""
            for raw in resp:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    data = json.loads(line[5:])
                    if event == "error":
                        raise RuntimeError(f"server error event: {data}")
                    return data[0]
        raise RuntimeError("the event stream ended without a result")


class GradioClient:
    def __init__(self, url: str, timeout: float) -> None:
        from gradio_client import Client

        self.client, self.timeout = Client(url, verbose=False, httpx_kwargs={"timeout": timeout}), timeout

    def ask(self, question: str) -> object:
        return self.client.submit(question, api_name="/ask").result(timeout=self.timeout)


def run_load(url: str, clients: int, questions: int, timeout: float, max_seconds: float,
             kind: str = "gradio") -> dict:
    """``questions`` asks from ``clients`` clients: answers, latencies, failures and wall time."""
    make = GradioClient if kind == "gradio" else HttpClient
    lock = threading.Lock()
    asked: list[tuple[str, object, float]] = []
    failures: list[str] = []
    next_i = [0]
    t_end = time.monotonic() + max_seconds

    def worker() -> None:
        try:
            client = make(url, timeout)
        except Exception as exc:  # a client that cannot connect: every question it would ask is failed
            with lock:
                failures.append(f"connect: {type(exc).__name__}: {exc}")
            return
        while time.monotonic() < t_end:
            with lock:
                i = next_i[0]
                if i >= questions:
                    return
                next_i[0] += 1
            q = QUESTIONS[i % len(QUESTIONS)]
            t0 = time.perf_counter()
            try:
                got = client.ask(q)
            except Exception as exc:  # a dropped, timed-out or failed request
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                asked.append((q, got, time.perf_counter() - t0))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(worker) for _ in range(clients)]
        _, pending = wait(futures, timeout=max_seconds + timeout + 30)
        if pending:
            failures.append(f"{len(pending)} clients still running after the time limit")
    return {"asked": asked, "failures": failures, "wall_s": time.perf_counter() - t0}


def cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time (user + system) used so far by process ``pid`` (default: this one), from /proc or getrusage."""
    if pid is None:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="load this running server instead of starting one (answers are not checked)")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus", help="corpus to copy and serve (default: seed)")
    ap.add_argument("--model", default="hash",
                    help="'hash' (default: measures the app, not the model), 'default' (the bundled model), or a "
                         "sentence-transformers name or path")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--client", choices=("gradio", "http"), default="gradio",
                    help="gradio_client (default), or plain HTTP with the standard library (lighter)")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20, help="questions asked (and not counted) first")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds for one request")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="stop sending after this long")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    model = None if args.model == "default" else args.model

    tmp = Path(tempfile.mkdtemp(prefix="citeqa-load-"))
    proc = None
    try:
        expected, pipeline_ms = None, None
        if args.url:
            url = args.url
        else:
            corpus, index = tmp / "corpus", tmp / "index"
            shutil.copytree(args.corpus, corpus)
            t0 = time.perf_counter()
            proc, url = start_server(corpus, index, model, tmp / "server.log")
            startup = time.perf_counter() - t0
            expected, pipeline_ms = expected_answers(corpus, index, model)
        if args.warmup:
            run_load(url, min(args.clients, args.warmup), args.warmup, args.timeout, args.max_seconds, args.client)
        server_cpu, client_cpu = cpu_seconds(proc.pid) if proc else None, cpu_seconds()
        res = run_load(url, args.clients, args.questions, args.timeout, args.max_seconds, args.client)
        n = max(1, len(res["asked"]))
        client_cpu = (cpu_seconds() - client_cpu) * 1000 / n
        if server_cpu is not None:
            server_cpu = (cpu_seconds(proc.pid) - server_cpu) * 1000 / n
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    lat = sorted(s * 1000 for _, _, s in res["asked"])
    wrong = 0 if expected is None else sum(1 for q, got, _ in res["asked"] if got != expected[q])
    errors = sum(1 for _, got, _ in res["asked"] if isinstance(got, dict) and "error" in got)
    figures = {
        "model": args.model,
        "clients": args.clients,
        "client": args.client,
        "questions": args.questions,
        "answered": len(res["asked"]),
        "unanswered": args.questions - len(res["asked"]),
        "failed_requests": len(res["failures"]),
        "error_objects": errors,
        "wrong_answers": wrong,
        "wall_s": round(res["wall_s"], 2),
        "throughput_qps": round(len(res["asked"]) / res["wall_s"], 2) if res["wall_s"] else 0.0,
        "latency_ms": {"mean": round(statistics.fmean(lat), 1) if lat else None,
                       "p50": round(percentile(lat, 50), 1), "p95": round(percentile(lat, 95), 1),
                       "p99": round(percentile(lat, 99), 1), "max": round(lat[-1], 1) if lat else None},
        "pipeline_ms_per_ask": None if pipeline_ms is None else round(pipeline_ms, 1),
        "server_cpu_ms_per_ask": None if server_cpu is None else round(server_cpu, 1),
        "client_cpu_ms_per_ask": round(client_cpu, 1),
        "server_startup_s": None if args.url else round(startup, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "failures": res["failures"][:5],
    }
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        lm = figures["latency_ms"]
        print(f"model {args.model}: {figures['answered']}/{args.questions} answered by {args.clients} {args.client} "
              f"clients in "
              f"{figures['wall_s']} s -> {figures['throughput_qps']} questions/s")
        print(f"latency ms: p50 {lm['p50']}  p95 {lm['p95']}  p99 {lm['p99']}  max {lm['max']}  (mean {lm['mean']})")
        print(f"unanswered {figures['unanswered']}, failed requests {figures['failed_requests']}, wrong answers "
              f"{wrong}, error objects {errors}")
        print(f"CPU per ask: server {figures['server_cpu_ms_per_ask']} ms, clients "
              f"{figures['client_cpu_ms_per_ask']} ms; the pipeline alone (in-process) "
              f"{figures['pipeline_ms_per_ask']} ms; {figures['machine']}")
        for f in figures["failures"]:
            print("  failure:", f)
    return 0 if figures["unanswered"] == figures["failed_requests"] == wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
