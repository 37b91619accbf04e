"""Plot query latency and index time against corpus size from the results files → ``docs/scaling.png``.

    python benchmarks/plot.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_result

OUT = ROOT / "docs" / "scaling.png"


def main() -> Path | None:
    scale = load_result("scale")
    if not scale:
        print("no benchmarks/results/scale.json: run benchmarks/bench_scale.py first")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    query, build = load_result("query") or {}, load_result("build") or {}
    dense, bm25 = scale["dense"], scale["bm25"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 6.2))
    n = [r["n"] for r in dense]
    left.plot(n, [r["search_k40"]["p50_ms"] for r in dense], "o-", label="dense search p50 (k=40)")
    left.plot(n, [r["search_k40"]["p95_ms"] for r in dense], "o:", color="C0", alpha=0.6, label="dense search p95")
    nb = [r["n"] for r in bm25]
    left.plot(nb, [r["top_k40"]["p50_ms"] for r in bm25], "s-", color="C1", label="BM25 top-40 p50")
    left.plot(nb, [r["top_k40"]["p95_ms"] for r in bm25], "s:", color="C1", alpha=0.6, label="BM25 top-40 p95")
    for name, marker in (("seed", "^"), ("wiki", "D")):
        if name in query:
            r = query[name]
            left.plot([r["chunks"]], [r["ask"]["p50_ms"]], marker, color="C3", markersize=9,
                      label=f"QA.ask p50, {name} corpus ({r['chunks']:,} chunks)")
    right.plot(n, [r["build_s"] for r in dense], "o-", label="dense index build")
    right.plot(nb, [r["build_s"] for r in bm25], "s-", color="C1", label="BM25 build (synthetic texts)")
    if build:
        b = build["full_build"]
        right.plot([b["chunks"]], [b["seconds"]], "D", color="C3", markersize=9,
                   label=f"full `citeqa index`, wiki ({b['chunks']:,} chunks + {b['sentences']:,} sentences embedded)")
    switch = next((r["n"] for r in dense if r["index_type"] != "flat"), None)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.grid(True, which="both", alpha=0.3)
        if switch:
            ax.axvline(switch, color="grey", ls="--", lw=1)
            ax.text(switch, ax.get_ylim()[1], " HNSW from here", va="top", fontsize=8, color="grey")
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    left.set_ylabel("milliseconds")
    left.set_title("Query latency (warm, one query at a time)")
    right.set_ylabel("seconds")
    right.set_title("Index time")
    cpu = scale["machine"]["cpu"]
    fig.suptitle(f"citeqa speed and scale — {scale['machine']['cores']} cores, {cpu}; dense vectors: "
                 f"{dense[-1]['vectors']}", fontsize=9)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return OUT


if __name__ == "__main__":
    main()
