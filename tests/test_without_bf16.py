"""The equivalence tests again with the bfloat16 path switched off (``CITEQA_NO_BF16=1``), in a child pytest.

CI machines differ: an AVX2-only or AVX-512-only CPU has no native bfloat16 and takes the float32 path. This
runs that path on every machine, an AMX one included, so a suite that passes here passes there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENCE = ["tests/encode", "tests/index/test_sharded.py", "tests/index/test_incremental.py",
               "tests/index/test_vectors.py"]


@pytest.mark.integration
def test_equivalence_tests_pass_on_the_float32_path() -> None:
    env = {**os.environ, "CITEQA_NO_BF16": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *EQUIVALENCE],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " failed" not in done.stdout
