"""The short answer as the app shows it: exact match and F1 on SQuAD 2.0 answerable questions, over all of them
and over those where citeqa shows it (answered, confidence >= answer_view.SPAN_MIN_CONFIDENCE), with the share
shown; for each model given, in one run.

    .venv/bin/python benchmarks/short_answer.py [--squad FILE] [--model M ...]

Writes ``benchmarks/results/short_answer.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from citeqa.answer.calibration import calibration_path, load_calibration  # noqa: E402
from citeqa.app.answer_view import SPAN_MIN_CONFIDENCE  # noqa: E402
from citeqa.config import BASE_MODEL, DEFAULT_MODEL, Settings  # noqa: E402
from citeqa.encode.embedder import make_embedder  # noqa: E402
from citeqa.eval.squad import exact_match, f1_score, load_squad, run_squad  # noqa: E402
from common import write_result  # noqa: E402


def measure(squad: Path, model: str, work: Path) -> dict:
    settings = Settings(model=model)
    results = run_squad(load_squad(squad), work, make_embedder(model), settings)
    qa_threshold = load_calibration(calibration_path(model)).threshold
    has = [r for r in results if r.q.answers]
    rows = []
    for r in has:
        a = r.answer
        span = a.answer[a.answer_span.start : a.answer_span.end] if a.answer and a.answer_span else ""
        shown = a.answer is not None and a.confidence >= max(qa_threshold, SPAN_MIN_CONFIDENCE) and bool(span)
        rows.append((exact_match(span, r.q.answers), f1_score(span, r.q.answers), shown))
    shown = [x for x in rows if x[2]]
    return {"model": model, "answerable": len(has), "em_all": statistics.fmean(x[0] for x in rows),
            "f1_all": statistics.fmean(x[1] for x in rows), "shown_share": len(shown) / len(rows),
            "em_shown": statistics.fmean(x[0] for x in shown) if shown else float("nan"),
            "f1_shown": statistics.fmean(x[1] for x in shown) if shown else float("nan")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--squad", type=Path, default=ROOT.parent / "shared" / "squad2" / "dev-v2.0-articles-0-5.json")
    ap.add_argument("--model", action="append", default=[])
    args = ap.parse_args()
    models = args.model or list(dict.fromkeys([DEFAULT_MODEL, BASE_MODEL]))
    out = [measure(args.squad, m, ROOT / ".bench" / f"short-{m.split(':')[-1]}") for m in models]
    for row in out:
        print(row)
    write_result("short_answer", {"squad": args.squad.name, "span_min_confidence": SPAN_MIN_CONFIDENCE,
                                  "models": out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
