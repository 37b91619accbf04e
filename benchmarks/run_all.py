"""Run every speed benchmark, then print one table against the targets of issue #5 and draw docs/scaling.png.

    python benchmarks/run_all.py            # everything (~30-40 min on 2 cores)
    python benchmarks/run_all.py --quick    # smaller samples, scale up to 100,000 chunks
    python benchmarks/run_all.py --table    # only print the table from benchmarks/results/*.json

Each benchmark is its own script (see its docstring) writing benchmarks/results/<name>.json.
Numbers depend on how busy the machine is: each file records the load average.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ENV, ROOT, load_result

HERE = Path(__file__).resolve().parent


def steps(quick: bool) -> list[list[str]]:
    return [
        ["bench_build.py", "--sample", "300" if quick else "1000"],
        ["bench_cold_start.py", "--runs", "3" if quick else "7"],
        ["bench_query.py", "--rounds", "1" if quick else "3"],
        ["bench_equivalence.py"],
        ["bench_scale.py", "--sizes", "1000,10000,100000" if quick else "1000,10000,50000,100000,200000,1000000"],
        ["plot.py"],
    ]


def _row(what: str, value: str, target: str, ok: bool | None) -> tuple[str, str, str, str]:
    return what, value, target, {True: "yes", False: "NO", None: "-"}[ok]


def table() -> list[tuple[str, str, str, str]]:
    rows = []
    if cs := load_result("cold_start"):
        rows.append(_row("cold start `citeqa ask` (median)", f"{cs['median_s']:.2f} s", "<= 3 s", cs["median_s"] <= 3))
        rows.append(_row("heavy modules on the ask path", ", ".join(cs["heavy_modules_imported"]) or "none",
                         "none", not cs["heavy_modules_imported"]))
    if q := load_result("query"):
        for name, target in (("seed", 15.0), ("wiki", 30.0)):
            if name in q:
                a = q[name]["ask"]
                rows.append(_row(f"warm ask p50, {name} ({q[name]['chunks']:,} chunks)", f"{a['p50_ms']:.1f} ms",
                                 f"<= {target:.0f} ms", a["p50_ms"] <= target))
                if name == "wiki":
                    rows.append(_row("warm ask p95, wiki", f"{a['p95_ms']:.1f} ms", "<= 2x p50",
                                     a["p95_ms"] <= 2 * a["p50_ms"]))
    if b := load_result("build"):
        fb, enc, re = b["full_build"], b["encoders"], b["reindex"]
        target = f">= 2x baseline ({2 * enc['baseline_st_fp32_chunks_per_s']:.1f})"
        rows.append(_row("whole build, wiki (chunks/s)", f"{fb['chunks_per_s']:.1f}", target,
                         b["build_vs_baseline"] >= 2))
        if late := b.get("full_build_late_sentence_vectors"):
            rows.append(_row("whole build, late-pooled sentence vectors (option)", f"{late['chunks_per_s']:.1f} "
                             f"({late['vs_baseline']:.2f}x)", "(option)", None))
        rows.append(_row("baseline: ST fp32 encode, chunks only", f"{enc['baseline_st_fp32_chunks_per_s']:.1f}/s",
                         "-", None))
        rows.append(_row("encoder, chunks only: numpy fp32 / bulk", f"{enc['numpy_fp32_chunks_per_s']:.1f} / "
                         f"{enc['bulk_chunks_per_s']:.1f} /s", "-", None))
        rows.append(_row("build peak RSS / index size", f"{fb['peak_rss_mb']:.0f} MiB / {fb['index_mb']:.0f} MiB"
                         f" (+{fb['embedding_cache_mb']:.0f} MiB cache)", "report", None))
        rows.append(_row("re-index, nothing changed", f"{re['unchanged_best_s']:.2f} s", "<= 1 s",
                         re["unchanged_best_s"] <= 1))
        rows.append(_row("re-index, one document changed", f"{re['one_changed_s']:.2f} s "
                         f"({re['one_changed_chars']} chars); {re['one_changed_large_s']:.2f} s "
                         f"({re['one_changed_large_chars']} chars)", "~ that document", None))
    if eq := load_result("equivalence"):
        for name in ("numpy", "bulk"):
            r = eq[name]
            same = r["recall_at"] == eq["st"]["recall_at"]
            rows.append(_row(f"seed recall@1/3/5 with {name} vs ST", " / ".join(f"{r['recall_at'][k]:.3f}"
                             for k in ("1", "3", "5")) + f"; {r['answers_identical_to_st']}/{r['questions']} same"
                             " answers", "unchanged", same))
    if s := load_result("scale"):
        d, m = s["dense"][-1], s["bm25"][-1]
        rows.append(_row(f"dense {d['n']:,}: {d['index_type']}", f"build {d['build_s']:.0f} s, p50 "
                         f"{d['search_k40']['p50_ms']:.2f} ms, recall@10 {d['recall_at_10']:.3f}",
                         "p50 <= 5 ms, recall >= 0.95", d["search_k40"]["p50_ms"] <= 5 and d["recall_at_10"] >= 0.95))
        rows.append(_row(f"dense {d['n']:,}: memory", f"peak {d['peak_rss_mb']:.0f} MiB, serving "
                         f"{d.get('rss_serving_mb', float('nan')):.0f} MiB", "<= 2 GB", d["peak_rss_mb"] <= 2048))
        rows.append(_row(f"BM25 {m['n']:,}: top-40", f"p50 {m['top_k40']['p50_ms']:.1f} ms (build "
                         f"{m['build_s']:.0f} s)", "p50 <= 50 ms", m["top_k40"]["p50_ms"] <= 50))
    return rows


def print_table() -> None:
    rows = [("measure", "value", "target", "met"), *table()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--table", action="store_true", help="only print the table of existing results")
    ap.add_argument("--only", help="comma-separated script names to run (e.g. bench_query.py,plot.py)")
    args = ap.parse_args()
    if not args.table:
        wanted = set(args.only.split(",")) if args.only else None
        for step in steps(args.quick):
            if wanted and step[0] not in wanted:
                continue
            print(f"== {' '.join(step)}", flush=True)
            t = time.perf_counter()
            rc = subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], cwd=ROOT, env=ENV).returncode
            print(f"   ({time.perf_counter() - t:.0f} s)", flush=True)
            if rc != 0:
                print(f"{step[0]} failed with exit code {rc}", file=sys.stderr)
                return rc
    print()
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
