"""Shared helpers for the benchmark scripts: paths, timing, memory, results files."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench"
RESULTS = ROOT / "benchmarks" / "results"
SEED_CORPUS = ROOT / "corpus"
SEED_QA = ROOT / "tests" / "data" / "seed_qa.jsonl"
CITEQA = Path(sys.executable).with_name("citeqa")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
os.environ.update({k: ENV[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")})


def stats_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max of timings, in milliseconds."""
    a = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"n": len(a), "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "mean_ms": float(a.mean()), "max_ms": float(a.max())}


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MiB (Linux)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def run_timed(args: Sequence[str], cwd: Path = ROOT, timeout: float = 3600, env: dict | None = None) -> dict:
    """Run a command (``env``: extra variables); wall seconds, exit code, output and the child's peak RSS (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(args), cwd=cwd, env={**ENV, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.perf_counter() - t0
    # wait4 is gone once communicate() reaped the child; RUSAGE_CHILDREN keeps the largest child's peak.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "rc": proc.returncode, "stdout": out, "stderr": err, "children_peak_rss_mb": peak}


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.exists() else 0.0


def machine() -> dict:
    """What the numbers were measured on, and how busy it was."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "faiss", "torch", "tokenizers", "sentence_transformers"):
        try:
            versions[mod] = __import__(mod).__version__ if mod in sys.modules else _dist_version(mod)
        except Exception:
            continue
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "loadavg_1m": os.getloadavg()[0], "versions": versions}


def _dist_version(mod: str) -> str:
    from importlib.metadata import version

    return version({"faiss": "faiss-cpu", "sentence_transformers": "sentence-transformers"}.get(mod, mod))


def write_result(name: str, data: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` (with the machine description) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), **data}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def load_result(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def seed_questions() -> list[str]:
    return [json.loads(line)["q"] for line in SEED_QA.read_text(encoding="utf-8").splitlines() if line.strip()]


def ensure_index(corpus: Path, index: Path) -> dict:
    """Build (or refresh) an index with the CLI; returns the timed run."""
    run = run_timed([str(CITEQA), "index", "--corpus", str(corpus), "--index", str(index)])
    if run["rc"] != 0:
        raise SystemExit(f"citeqa index failed: {run['stderr'][-2000:]}")
    return run
