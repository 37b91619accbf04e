"""PDF text extraction: pypdf (what citeqa used before) against PDFium (pypdfium2, what it uses now).

For each PDF: pages, seconds per page, words, glued words (alphabetic runs longer than 25 letters, per
1,000 words), the share of words a dictionary knows, and the share of unknown words that split into
dictionary words (``Hereareafew`` -> here are a few: words run together). Also checks phrases that must
come out whole.

    apt-get download debian-reference-en && dpkg-deb -x debian-reference-en_*.deb /tmp/debref
    apt-get install wamerican   # /usr/share/dict/words, for the dictionary figures (optional)
    PYTHONPATH=src python benchmarks/pdf_text.py /tmp/debref/usr/share/debian-reference/debian-reference.en.pdf

Without arguments it measures the test PDFs (tests/pdfs.py) only. ``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from citeqa.ingest.pdf import read_pdf  # noqa: E402
from pdfs import pages_pdf  # noqa: E402

WORD = re.compile(r"[^\W\d_]+")
PHRASES = ("Here are a few basic methods to gain the root shell prompt",
           "Type root at the character based login prompt",
           "The lighthouse keeper Mirela Voss repainted the northern tower in 1931")
TEST_LINES = ["The lighthouse keeper Mirela Voss repainted the northern tower in 1931.",
              "Here are a few basic methods to gain the root shell prompt by using the root password.",
              "Type root at the character based login prompt."]


def pypdf_text(data: bytes) -> list[str]:
    import pypdf

    return [p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages]


def pdfium_text(data: bytes) -> list[str]:
    got = read_pdf(data)
    ends = [*got.pages[1:], len(got.text) + 2]
    return [got.text[a : b - 2] for a, b in zip(got.pages, ends, strict=True)]


def load_words(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    words = {w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").split()}
    return {w for w in words if w.isalpha() and (len(w) > 1 or w in ("a", "i"))}


def splits(word: str, words: set[str], memo: dict[str, bool]) -> bool:
    """Whether ``word`` is two or more dictionary words (of 2+ letters, or 'a') run together."""
    if word in memo:
        return memo[word]
    ok = False
    for i in range(1, len(word)):
        head, tail = word[:i], word[i:]
        if (len(head) > 1 or head == "a") and head in words and (tail in words or splits(tail, words, memo)):
            ok = True
            break
    memo[word] = ok
    return ok


def measure(name: str, data: bytes, extract: Callable[[bytes], list[str]], words: set[str]) -> dict:
    t0 = time.perf_counter()
    pages = extract(data)
    seconds = time.perf_counter() - t0
    text = "\n\n".join(pages)
    tokens = [w.lower() for w in WORD.findall(text)]
    out = {"extractor": name, "pages": len(pages), "seconds": round(seconds, 2),
           "ms_per_page": round(1000 * seconds / max(1, len(pages)), 1), "words": len(tokens),
           "glued_per_1000": round(1000 * sum(len(w) > 25 for w in tokens) / max(1, len(tokens)), 2)}
    if words:
        unknown = [w for w in tokens if w not in words]
        memo: dict[str, bool] = {}
        out["known_share"] = round(1 - len(unknown) / max(1, len(tokens)), 4)
        out["run_together_share"] = round(sum(len(w) >= 6 and splits(w, words, memo) for w in unknown)
                                          / max(1, len(tokens)), 4)
    flat = " ".join(text.split())
    out["phrases_whole"] = [p for p in PHRASES if p in flat]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pdfs", nargs="*", type=Path)
    ap.add_argument("--words", type=Path, default=Path("/usr/share/dict/words"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    words = load_words(args.words)
    inputs = [("test: lines (tests/pdfs.py)", pages_pdf([TEST_LINES] * 3)),
              ("test: placed words (tests/pdfs.py)", pages_pdf([TEST_LINES] * 3, placed_words=True))]
    inputs += [(p.name, p.read_bytes()) for p in args.pdfs]
    rows = []
    for name, data in inputs:
        for extractor, fn in (("pypdf", pypdf_text), ("pypdfium2", pdfium_text)):
            rows.append({"pdf": name, **measure(extractor, data, fn, words)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    cols = ["pdf", "extractor", "pages", "ms_per_page", "words", "glued_per_1000", "known_share",
            "run_together_share", "phrases_whole"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(len(r[c]) if c == "phrases_whole" else r.get(c, "—")) for c in cols))
    if not words:
        print(f"(no dictionary at {args.words}: apt-get install wamerican for known/run-together shares)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
