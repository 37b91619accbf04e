"""Answer quality on gold sets that test generalisation, this checkout against an earlier commit, in one run.

    make bench-quality                                    # runs this after benchmarks/quality.py
    .venv/bin/python benchmarks/heldout.py [--base REV]   # default base: BASE below (main before issue #11)

Gold sets (``tests/data``), and whether the shipped weights were fitted on them:

* ``seed_qa.jsonl``     the seed document, 88 questions        fitted on (development)
* ``seed_fresh.jsonl``  the seed document, 84 new questions    held out (written blind, report only)
* ``debref_dev.jsonl``  the Debian Reference, 38 questions     fitted on (development)
* ``debref_test.jsonl`` the Debian Reference, 85 questions     held out (written blind, report only)

The Debian Reference (package ``debian-reference-en``, GPL-2+, by Osamu Aoki) is unpacked into
``.bench/debref`` with ``apt-get download`` and ``dpkg-deb -x`` when it is not there; its 15 HTML pages are the
corpus.

Each version runs in its own process (``--child``) with its own ``src`` first on ``sys.path``: the earlier commit
is checked out with ``git worktree`` into ``.bench/heldout/base-src``. For each set: the answer hit at the default
threshold, when answering everything, false abstention (a tentative answer counts as an abstention: ``abstained``
is true), the share of tentative answers, refusal of unanswerable and out-of-corpus questions, the median answer
length, evidence recall@5 and the warm query time (p50 over a second pass of every question). Writes
``benchmarks/results/heldout.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".bench"
DEBREF = WORK / "debref"
OUT = ROOT / "benchmarks" / "results" / "heldout.json"
BASE = "a006bc4"  # main before the token alignment, tiers and context of issue #11
SETS = (("seed_qa", "seed", "fitted on"), ("seed_fresh", "seed", "held out"),
        ("debref_dev", "debref", "fitted on"), ("debref_test", "debref", "held out"))


def debian_reference() -> Path:
    """The Debian Reference's HTML pages in a corpus folder, unpacked from the Debian package if needed."""
    corpus = DEBREF / "corpus"
    if len(list(corpus.glob("*.html"))) >= 15:
        return corpus
    DEBREF.mkdir(parents=True, exist_ok=True)
    if not list(DEBREF.glob("debian-reference-en_*.deb")):
        subprocess.run(["apt-get", "download", "debian-reference-en"], cwd=DEBREF, check=True)
    deb = sorted(DEBREF.glob("debian-reference-en_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(DEBREF / "root")], check=True)
    corpus.mkdir(exist_ok=True)
    for page in (DEBREF / "root" / "usr" / "share" / "debian-reference").glob("*.en.html"):
        shutil.copy(page, corpus / page.name)
    return corpus


def auc(pos: list[float], neg: list[float]) -> float:
    """The chance that a right answer is more confident than a wrong one (ties count half)."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def child(src: Path, index_root: Path, model: str = "") -> dict:
    """Evaluate every set with the citeqa found in ``src`` (only API both versions share), with ``model``
    (empty: that version's default)."""
    sys.path.insert(0, str(src))
    from citeqa.config import Settings
    from citeqa.eval.evaluate import answer_hit, evidence_rank, load_gold
    from citeqa.qa import QA

    corpora = {"seed": ROOT / "corpus", "debref": debian_reference()}
    qas: dict[str, QA] = {}
    out = {}
    for name, corpus, _ in SETS:
        if corpus not in qas:
            extra = {"model": model} if model else {}
            qas[corpus] = QA(Settings(corpus_dir=corpora[corpus], index_dir=index_root / corpus, **extra))
            qas[corpus].build()
        qa = qas[corpus]
        items = load_gold(ROOT / "tests" / "data" / f"{name}.jsonl")
        rows, times = [], []
        for item in items:
            qa.ask(item.q)  # warm: the second pass is timed
            t0 = time.perf_counter()
            ans = qa.ask(item.q)
            times.append(time.perf_counter() - t0)
            everything = qa.ask(item.q, min_confidence=0.0)
            rows.append((item, ans, everything))
        answerable = [r for r in rows if r[0].answerable]
        unans = [r for r in rows if not r[0].answerable]
        ooc = [r for r in unans if r[0].kind == "out-of-corpus"]
        lengths = [len(a.answer) for _, a, _ in rows if a.answer and not a.abstained]

        def share(xs: list[bool]) -> float:
            return sum(xs) / len(xs) if xs else float("nan")

        out[name] = {
            "n": len(rows), "answerable": len(answerable),
            "hit_default": share([not a.abstained and answer_hit(a.answer, i.answers) for i, a, _ in answerable]),
            "hit_all": share([answer_hit(e.answer, i.answers) for i, _, e in answerable]),
            "false_abstention": share([a.abstained for _, a, _ in answerable]),
            "tentative": share([a.abstained and a.answer is not None for _, a, _ in answerable]),
            "tentative_hit": share([a.abstained and answer_hit(a.answer, i.answers) for i, a, _ in answerable]),
            "unanswerable_refused": share([a.abstained for _, a, _ in unans]),
            "out_of_corpus_refused": share([a.answer is None for _, a, _ in ooc]),
            "median_answer_chars": statistics.median(lengths) if lengths else 0.0,
            "recall_at_5": share([(evidence_rank(a, i.evidence) or 99) <= 5 for i, a, _ in answerable]),
            "warm_p50_ms": 1000 * statistics.median(times),
            "auc_all": auc([e.confidence for i, _, e in answerable if answer_hit(e.answer, i.answers)],
                           [e.confidence for i, _, e in answerable if not answer_hit(e.answer, i.answers)]),
        }
    return out


def run_version(src: Path, index_root: Path, model: str = "") -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, __file__, "--child", str(src), str(index_root), model], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the run with {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def base_src(rev: str) -> Path:
    tree = WORK / "heldout" / "base-src"
    if tree.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False,
                       capture_output=True)
        shutil.rmtree(tree, ignore_errors=True)
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(tree), rev], cwd=ROOT, check=True,
                   capture_output=True)
    return tree / "src"


def table(results: dict) -> str:
    cols = ("hit_default", "hit_all", "false_abstention", "tentative", "unanswerable_refused",
            "out_of_corpus_refused", "median_answer_chars", "recall_at_5", "auc_all", "warm_p50_ms")
    lines = ["| set | fitted? | version | " + " | ".join(cols) + " |", "|---|---|---|" + "---:|" * len(cols)]
    for name, _, role in SETS:
        for version, got in results["versions"].items():
            r = got[name]
            cells = [f"{r[c]:.0f}" if c == "median_answer_chars" else f"{r[c]:.1f}" if c.endswith("_ms")
                     else f"{r[c]:.3f}" for c in cols]
            lines.append(f"| {name} ({r['answerable']}+{r['n'] - r['answerable']}) | {role} | {version} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=BASE, help="the earlier commit to compare with (empty: none)")
    ap.add_argument("--also-model", default="", help="also run this checkout with this model (e.g. the bundled one)")
    args = ap.parse_args()
    debian_reference()
    versions = {"this checkout": run_version(ROOT / "src", WORK / "heldout" / "current")}
    if args.also_model:
        versions[f"this checkout, {args.also_model}"] = run_version(ROOT / "src", WORK / "heldout" / "also",
                                                                   args.also_model)
    if args.base:
        versions[f"base {args.base}"] = run_version(base_src(args.base), WORK / "heldout" / "base")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    results = {"when": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
               "load_avg": os.getloadavg(), "versions": versions}
    OUT.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))
    if args.base:
        now, base = versions["this checkout"], versions[f"base {args.base}"]
        for name, _, _ in SETS:
            print(f"{name}: warm p50 {now[name]['warm_p50_ms']:.1f} ms vs {base[name]['warm_p50_ms']:.1f} ms "
                  f"({now[name]['warm_p50_ms'] / base[name]['warm_p50_ms']:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
