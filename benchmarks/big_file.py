"""One big text file: index build time and peak memory (the hash embedder, memoised: the cost of everything
but the model).

    .venv/bin/python benchmarks/big_file.py [--mb 50]

The file and the indexing script are the test's (``tests/system/test_reliability.py``: the test builds 10 MB and
asserts memory only; times belong here). Writes ``benchmarks/results/big_file.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from tests.system.test_reliability import BIG_INDEX_SCRIPT, write_big_text  # noqa: E402

from common import write_result  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        size = write_big_text(corpus / "big.txt", args.mb)
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-c", BIG_INDEX_SCRIPT, "index", "--corpus", str(corpus),
                               "--index", str(Path(tmp) / "index"), "--model", "hash"], capture_output=True,
                              text=True, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        seconds = time.monotonic() - t0
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    m = re.search(r"indexed 1 documents into (\d+) chunks and (\d+) sentences", done.stdout)
    peak = int(re.search(r"peak_rss_mb (\d+)", done.stderr).group(1))
    result = {"megabytes": round(size / 2**20, 1), "chunks": int(m.group(1)) if m else None,
              "sentences": int(m.group(2)) if m else None, "seconds": round(seconds, 1), "peak_rss_mb": peak}
    print(result)
    write_result("big_file", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
