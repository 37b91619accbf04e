"""How long citeqa takes to read one file, in this process and through the per-file time limit's child process.

For each path given, and for a generated .docx of ``--paragraphs`` plain paragraphs (the case python-docx's
style lookup made slow): seconds to read it with :func:`citeqa.ingest.files.read_document` (in-process) and
with :class:`citeqa.ingest.files.FileReader` (the child process; its start included), best of ``--repeat``.

    apt-get download debian-reference-en && dpkg-deb -x debian-reference-en_*.deb /tmp/debref
    PYTHONPATH=src python benchmarks/read_time.py /tmp/debref/usr/share/debian-reference/debian-reference.en.pdf
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from citeqa.ingest.files import FileReader, read_document  # noqa: E402


def _docx(paragraphs: int) -> bytes:
    import docx

    d = docx.Document()
    for i in range(paragraphs):
        d.add_paragraph(f"Paragraph {i} says something about the thing number {i} in plain words.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", type=Path, nargs="*")
    ap.add_argument("--paragraphs", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        made = Path(tmp) / f"paragraphs-{args.paragraphs}.docx"
        made.write_bytes(_docx(args.paragraphs))
        rows = []
        for path in [*args.paths, made]:
            in_process = _best(lambda p=path: read_document(p, p.name), args.repeat)

            def isolated(p: Path = path) -> None:
                with FileReader() as read:
                    read(p, p.name)

            rows.append({"file": path.name, "bytes": path.stat().st_size, "in_process_s": round(in_process, 3),
                         "with_time_limit_s": round(_best(isolated, args.repeat), 3)})
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
