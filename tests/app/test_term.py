"""The CLI never passes a terminal control sequence from a document or a file name."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from citeqa.app.term import SafeStream, name, visible


def test_visible_escapes_controls_but_keeps_lines() -> None:
    assert visible("a\x1b[2Jb\x07c\x9bd\u202ee\nf\tg\rh") == "a\\x1b[2Jb\\x07c\\x9bd\\u202ee\nf\tg\rh"
    assert name("evil\nwarning: forged.txt") == "evil\\x0awarning: forged.txt"


def test_safe_stream_wraps_writes() -> None:
    out = io.StringIO()
    SafeStream(out).write("title\x1b]0;pwned\x07 done\n")  # type: ignore[arg-type]
    assert out.getvalue() == "title\\x1b]0;pwned\\x07 done\n"


def test_ask_prints_no_escape_bytes_from_a_document(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil\x1b[2J.txt").write_text("The vault\x1b]52;c;ZXZpbA==\x07 opens at nine\x1b[2J in the morning.\n",
                                           encoding="utf-8")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "citeqa.app.cli", "ask", "When does the vault open?", "--corpus",
                           str(corpus), "--index", str(tmp_path / "index"), "--model", "hash", "--min-confidence",
                           "0"], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout + done.stderr and b"\x07" not in done.stdout + done.stderr
    assert b"opens at nine" in done.stdout and b"\\x1b" in done.stdout
