"""``python -m citeqa.train`` (``make reader``): fine-tune the bundled MiniLM on ../shared/qa_train and export it.

Resumes from ``--work`` when a checkpoint is there; stops after ``--minutes`` (rerun to go on). When the step
budget is reached it validates the trained model against the bundled one on the held-out split and writes the
shipped weights (:mod:`citeqa.train.export`) with ``training.json`` (data files by sha256, seed, settings,
validation figures) beside them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from citeqa.config import BASE_MODEL, TRAINED_MODEL, offline_model_env


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m citeqa.train", description=__doc__)
    ap.add_argument("--data", type=Path, default=Path("../shared/qa_train"))
    ap.add_argument("--work", type=Path, default=Path(".train/reader"))
    ap.add_argument("--minutes", type=float, default=90.0, help="stop (and checkpoint) after this long")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps in all (default: the config's)")
    ap.add_argument("--val-per-domain", type=int, default=500)
    args = ap.parse_args(argv)
    offline_model_env()
    from citeqa.encode.bundled import shipped_folder
    from citeqa.encode.embedder import resolve_model
    from citeqa.train.data import FILES, build, read_sets, sha256_file
    from citeqa.train.export import export
    from citeqa.train.loop import TrainConfig, Trainer, write_json

    if not args.data.is_dir():
        print(f"citeqa.train: no training data at {args.data}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    cfg = TrainConfig() if args.steps is None else TrainConfig(steps=args.steps)
    triples, groups = build(read_sets(args.data), seed=cfg.seed)
    per: dict[str, int] = {}
    val = []
    for g in groups:  # a fixed slice of each domain, in file order
        if per.get(g.domain, 0) < args.val_per_domain:
            per[g.domain] = per.get(g.domain, 0) + 1
            val.append(g)
    print(f"{len(triples)} training triples, {len(val)} validation questions ({time.monotonic() - t0:.0f} s)")
    base = Path(resolve_model(BASE_MODEL))
    trainer = Trainer(base, args.work, cfg)
    baseline_path = args.work / "baseline.json"
    if not baseline_path.is_file():
        write_json(baseline_path, trainer.validate(val))
    if not trainer.run(triples, args.minutes):
        return 3
    import json

    report = {
        "model": TRAINED_MODEL,
        "base": BASE_MODEL,
        "config": asdict(cfg),
        "data": {n: sha256_file(args.data / n) for n in FILES if (args.data / n).is_file()},
        "training_triples": len(triples),
        "device": trainer.device,
        "validation": {"bundled": json.loads(baseline_path.read_text()), "trained": trainer.validate(val)},
    }
    out = shipped_folder()
    export(trainer.model, base, out)
    write_json(out / "training.json", report)
    print(json.dumps(report["validation"], indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
