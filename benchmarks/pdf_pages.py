"""Running headers and footers in a PDF's text, before and after citeqa cuts them (``citeqa.ingest.pages``).

For each PDF: its pages, the running lines found (top and bottom), how many of citeqa's sentence units hold
one of those lines when the pages are joined as they come (what citeqa did before) and as citeqa reads them
now, and how many pages were joined mid-sentence.

    apt-get download debian-reference-en && dpkg-deb -x debian-reference-en_*.deb /tmp/debref
    PYTHONPATH=src python benchmarks/pdf_pages.py /tmp/debref/usr/share/debian-reference/debian-reference.en.pdf
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from citeqa.ingest.pages import PAGE_SEP, _key, running_lines  # noqa: E402
from citeqa.ingest.pdf import open_pdf, page_text, read_pdf  # noqa: E402
from citeqa.ingest.sentences import split_sentences  # noqa: E402


def _raw_pages(path: Path) -> list[str]:
    with open_pdf(path) as pdf:
        out = []
        for i in range(len(pdf)):
            textpage = pdf[i].get_textpage()
            out.append(page_text(textpage)[0])
            textpage.close()
        return out


def _holding(text: str, keys: frozenset[str]) -> int:
    """Sentence units of ``text`` holding a whole line whose key is one of ``keys``."""
    n = 0
    for s in split_sentences(text):
        if any(_key(line) in keys for line in text[s.start : s.end].split("\n") if line.strip()):
            n += 1
    return n


def measure(path: Path) -> dict:
    raw = _raw_pages(path)
    top, bottom = running_lines(raw)
    keys = top | bottom
    before = PAGE_SEP.join(raw)
    now = read_pdf(path.read_bytes())
    joined = sum(1 for p in now.pages[1:] if now.text[p - 2 : p] != PAGE_SEP)
    return {"pdf": path.name, "pages": len(raw), "running_top": sorted(top), "running_bottom": sorted(bottom),
            "sentences_before": len(split_sentences(before)), "holding_a_running_line_before": _holding(before, keys),
            "sentences_now": len(split_sentences(now.text)), "holding_a_running_line_now": _holding(now.text, keys),
            "pages_joined_mid_sentence": joined, "characters_before": len(before), "characters_now": len(now.text)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pdf", type=Path, nargs="+")
    args = ap.parse_args()
    print(json.dumps([measure(p) for p in args.pdf], indent=1))


if __name__ == "__main__":
    main()
