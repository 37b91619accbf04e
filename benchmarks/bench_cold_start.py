"""Cold start: wall time of ``citeqa ask "…"`` (a new process) from start to printed answer, index built.

    python benchmarks/bench_cold_start.py [--runs 7]

Also lists which heavy modules (torch, transformers, sentence-transformers,
gradio) the ``ask`` path imports (``python -X importtime``), and times
``import sentence_transformers`` alone for comparison.
Writes ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, CITEQA, SEED_CORPUS, ensure_index, run_timed, write_result

QUESTION = "Which Chinese ministries worked with the European Commission to create the expert groups?"
HEAVY = ("torch", "transformers", "sentence_transformers", "gradio", "sklearn", "scipy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    index = CACHE / "seed_index"
    ensure_index(SEED_CORPUS, index)
    cmd = [str(CITEQA), "ask", "--corpus", str(SEED_CORPUS), "--index", str(index), QUESTION]
    runs = []
    for _ in range(args.runs):
        r = run_timed(cmd)
        if r["rc"] != 0:
            raise SystemExit(f"citeqa ask failed: {r['stderr'][-2000:]}")
        runs.append(r["seconds"])
    answer = r["stdout"].strip().splitlines()[0]
    imp = run_timed([sys.executable, "-X", "importtime", "-m", "citeqa.app.cli", *cmd[1:]])
    tops = {}
    for line in imp["stderr"].splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and not m.group(2).strip(" ") and len(m.group(2)) == 1:  # top-level imports
            tops[m.group(3)] = int(m.group(1)) / 1e3
    heavy = sorted({name.split(".")[0] for name in re.findall(r"\| +([\w.]+)$", imp["stderr"], re.M)} & set(HEAVY))
    st = run_timed([sys.executable, "-c", "import sentence_transformers"])
    out = {
        "command": "citeqa ask --corpus corpus --index .bench/seed_index '" + QUESTION + "'",
        "runs_s": runs, "median_s": float(np.median(runs)), "best_s": min(runs), "worst_s": max(runs),
        "answer_first_line": answer, "heavy_modules_imported": heavy,
        "slowest_top_level_imports_ms": dict(sorted(tops.items(), key=lambda kv: -kv[1])[:8]),
        "import_sentence_transformers_s": st["seconds"],
    }
    print(f"cold start: median {out['median_s']:.2f} s (best {out['best_s']:.2f}, worst {out['worst_s']:.2f}) "
          f"over {len(runs)} runs; heavy modules imported: {heavy or 'none'}; "
          f"`import sentence_transformers` alone {st['seconds']:.2f} s")
    write_result("cold_start", out)


if __name__ == "__main__":
    main()
