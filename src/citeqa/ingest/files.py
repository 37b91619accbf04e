"""Reading the corpus: find supported files and turn each into a :class:`Document`.

Text and Markdown keep the file's characters exactly (newlines included);
HTML becomes its visible text; PDF the text of its pages (:mod:`citeqa.ingest.pdf`);
Word its paragraphs, lists and tables (:mod:`citeqa.ingest.docx`).
A file that cannot be used is reported as :class:`Skipped`, never fatal.

A file's corpus path (``Document.path``) is its path relative to the corpus with ``/``
separators. A name that is not valid UTF-8 (Linux allows any bytes) gets its undecodable
bytes written as ``\\xNN`` (:func:`corpus_name`); :func:`corpus_path` finds the file again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from citeqa.config import Settings
from citeqa.errors import CorpusError, InputError
from citeqa.ingest.decode import BinaryFileError, decode_html, decode_text
from citeqa.ingest.docx import DocxError, read_docx
from citeqa.ingest.html import html_to_text
from citeqa.ingest.isolate import ChildDied, ChildError, Isolated, TimedOut
from citeqa.ingest.markdown import markdown_headings
from citeqa.ingest.pdf import READER as PDF_READER
from citeqa.ingest.pdf import PdfError, read_pdf
from citeqa.models import Document, Heading, sha256_hex

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
DEFAULT_MAX_BYTES = 100 * 2**20
DEFAULT_TIMEOUT_S = Settings.file_timeout_s
ISOLATED = ("pdf", "docx", "html")  # formats whose parsers a file can keep busy: read under the time limit
_FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf",
            ".docx": "docx"}
# The extractor behind each format whose text changed between citeqa versions (recorded in the index manifest:
# files of a format read by another extractor are read again by the next `citeqa index`).
READERS = {"pdf": PDF_READER}
KINDS = "no .txt, .md, .html, .pdf or .docx files"
_OUTSIDE = "symlink points outside the corpus folder"


@dataclass(frozen=True)
class Skipped:
    """A corpus file that was not loaded, and why (``path`` is corpus-relative)."""

    path: str
    reason: str


class UnusableFileError(InputError):
    """An :class:`InputError` about one file; ``reason`` is the message sans path."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(f"{rel} {reason}; skipped")
        self.path, self.reason = rel, reason


def format_of(rel: str) -> str | None:
    """The format (``txt``, ``md``, ``html``, ``pdf``, ``docx``) a file name's extension says, or None."""
    return _FORMATS.get(os.path.splitext(rel)[1].lower())


def reread(manifest: dict) -> list[str]:
    """Files of an index's ``manifest`` (indexed or skipped) whose format another extractor read."""
    old = manifest.get("readers") or {}
    paths = {*manifest.get("files", {}), *manifest.get("skipped_files", {})}
    return sorted(p for p in paths if (fmt := format_of(p)) in READERS and old.get(fmt) != READERS[fmt])


def corpus_name(path: Path, corpus_dir: Path) -> str:
    """``path`` relative to ``corpus_dir`` in posix form. In a name that is not valid UTF-8, each undecodable
    byte becomes ``\\xNN`` (and a backslash ``\\x5c``, so the name reads back exactly): stable across scans,
    so an unchanged file keeps its name and an index update sees it as unchanged."""
    rel = path.relative_to(corpus_dir).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode kept the undecodable bytes as lone surrogates
        return os.fsencode(rel).replace(b"\\", b"\\x5c").decode("utf-8", "backslashreplace")
    return rel


def corpus_path(corpus_dir: Path, rel: str) -> Path:
    """The file that :func:`corpus_name` named ``rel`` (``\\xNN`` back to the byte where the name has them)."""
    path = corpus_dir / rel
    if "\\x" not in rel or path.exists():
        return path
    raw = re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), rel.encode("utf-8"))
    return corpus_dir / os.fsdecode(raw)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # symlink loop
        return False


def _scan(corpus_dir: Path) -> tuple[dict[str, Path], list[Skipped]]:
    """Supported files by corpus name (sorted); symlinks outside, unreadable folders, name clashes."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder" if corpus_dir.exists()
                          else f"corpus folder {corpus_dir} does not exist")
    root = corpus_dir.resolve()
    found: dict[str, Path] = {}
    outside: list[Skipped] = []

    def unreadable(err: OSError) -> None:
        if err.filename and Path(err.filename) != corpus_dir:
            rel = corpus_name(Path(err.filename), corpus_dir)
            reason = f"folder cannot be read: {err.strerror or err}"
            outside.append(Skipped(rel, reason))

    for here, dirs, files in os.walk(corpus_dir, onerror=unreadable):
        base = Path(here)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [d for d in dirs if (base / d).is_symlink()]:
            dirs.remove(name)  # not followed; links inside the corpus are seen anyway
            if not _inside(base / name, root):
                outside.append(Skipped(corpus_name(base / name, corpus_dir), _OUTSIDE))
        for name in sorted(files):
            path = base / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED:
                continue
            rel = corpus_name(path, corpus_dir)
            if path.is_symlink() and not _inside(path, root):
                outside.append(Skipped(rel, _OUTSIDE))
            elif path.exists() and not path.is_file():  # a FIFO would block the read for ever
                outside.append(Skipped(rel, "is not a regular file (a pipe, socket or device)"))
            elif rel in found:  # a name with \xNN written out, and one with that byte undecodable
                outside.append(Skipped(rel, "its name reads the same as another file's once escaped; rename it"))
            else:
                found[rel] = path
    return {k: found[k] for k in sorted(found)}, sorted(outside, key=lambda s: s.path)


def scan_corpus(corpus_dir: Path) -> list[Path]:
    """The supported files under ``corpus_dir``, recursively, sorted by corpus path. Hidden files and folders are
    ignored, symlinked folders not descended into, and symlinks resolving outside the corpus left out
    (:func:`load_corpus` reports them as skipped). :class:`CorpusError` when ``corpus_dir`` is not a folder."""
    return list(_scan(corpus_dir)[0].values())


def corpus_scan(corpus_dir: Path) -> tuple[dict[str, tuple[int, int]], list[Skipped]]:
    """One scan: each supported file's ``(size, mtime_ns)`` by relative path (stat only), and the
    entries :func:`load_corpus` skips without reading (symlinks outside the corpus, unreadable folders)."""
    files, outside = _scan(corpus_dir)
    out: dict[str, tuple[int, int]] = {}
    for rel, path in files.items():
        try:
            st = path.stat()
        except OSError:
            continue
        out[rel] = (st.st_size, st.st_mtime_ns)
    return out, outside


def file_fingerprints(corpus_dir: Path) -> dict[str, tuple[int, int]]:
    """Map each scanned file's relative path to ``(size, mtime_ns)`` (stat only)."""
    return corpus_scan(corpus_dir)[0]


def read_document(path: Path, rel: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read one file (``rel``: its corpus path, named in errors) into a :class:`Document` whose ``sha256`` hashes
    the raw bytes. :class:`UnusableFileError` when it cannot be used: unsupported type, unreadable, larger than
    ``max_bytes``, binary, empty, a PDF without a text layer, or a PDF or Word file encrypted, damaged or too big."""
    fmt = format_of(path.name)
    if fmt is None:
        kinds = ", ".join(SUPPORTED)
        raise UnusableFileError(rel, f"has an unsupported file type (use {kinds})")
    try:
        if path.stat().st_size > max_bytes:
            raise UnusableFileError(rel, f"is larger than {max_bytes / 2**20:g} MB")
        if not os.access(path, os.R_OK):
            raise PermissionError
        data = path.read_bytes()
    except PermissionError:
        raise UnusableFileError(rel, "cannot be read: permission denied") from None
    except OSError as err:
        raise UnusableFileError(rel, f"cannot be read: {err.strerror or err}") from None
    if not data.strip():
        raise UnusableFileError(rel, "is empty")
    headings: tuple[Heading, ...] = ()
    pages: tuple[int, ...] = ()
    try:
        if fmt == "pdf":
            got = read_pdf(data)
            text, pages, headings = got.text, got.pages, got.headings
        elif fmt == "docx":
            text, headings = read_docx(data)
        elif fmt == "html":
            text, headings = html_to_text(decode_html(data))
        else:
            text = decode_text(data)
            if fmt == "md" and text.strip():
                headings = markdown_headings(text)
    except (PdfError, DocxError) as err:
        raise UnusableFileError(rel, str(err)) from None
    except BinaryFileError:
        raise UnusableFileError(rel, "looks binary") from None
    except AssertionError as err:  # html.parser can assert on some broken markup
        raise UnusableFileError(rel, f"is not readable HTML ({err})") from None
    if not text.strip():
        empty = "is empty (no visible text)" if fmt == "html" else "is empty"
        raise UnusableFileError(rel, empty)
    return Document(path=rel, text=text, format=fmt, sha256=sha256_hex(data), headings=headings, pages=pages)


class FileReader:
    """:func:`read_document` under the per-file time limit: PDF, Word and HTML files are read in a child process
    (:class:`~citeqa.ingest.isolate.Isolated`, one per reader, reused) that is stopped after ``timeout_s``
    seconds, the file then skipped; a crash while reading skips the file too. ``timeout_s <= 0``: read here."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.max_bytes, self.timeout_s = max_bytes, timeout_s
        self._child = Isolated(f"{__name__}:_read_plain", timeout_s)

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._child.close()

    def __call__(self, path: Path, rel: str) -> Document:
        """The document of ``path``; :class:`UnusableFileError` as :func:`read_document`, or when out of time."""
        if self.timeout_s <= 0 or format_of(path.name) not in ISOLATED:
            return read_document(path, rel, self.max_bytes)
        try:
            return Document.from_dict(self._child(str(path), rel, self.max_bytes))
        except ChildError as err:
            if err.kind != UnusableFileError.__name__:
                raise
            raise UnusableFileError(rel, err.fields["reason"]) from None
        except TimedOut:
            raise UnusableFileError(rel, f"took longer than {self.timeout_s:g} s to read (the limit per file; raise "
                                         "it with --file-timeout, then touch the file to retry)") from None
        except ChildDied as err:
            raise UnusableFileError(rel, f"could not be read: {err}") from None


def _read_plain(path: str, rel: str, max_bytes: int) -> dict:
    """:func:`read_document` in :class:`FileReader`'s child: the document as plain values."""
    return asdict(read_document(Path(path), rel, max_bytes))


def load_corpus(corpus_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_TIMEOUT_S
                ) -> tuple[list[Document], list[Skipped]]:
    """Read every supported file of ``corpus_dir``: the documents, sorted by path, and the files skipped with
    their reasons (unreadable, binary, empty, no text layer, larger than ``max_bytes``, still being read after
    ``timeout_s`` seconds (:class:`FileReader`; 0: no limit), a symlink outside the corpus, a byte-identical
    duplicate of an earlier file). :class:`CorpusError` when the folder is missing or not a folder, holds no
    supported file, or every file was skipped."""
    files, skipped = _scan(corpus_dir)
    if not files and not skipped:
        raise CorpusError(f"{KINDS} in {corpus_dir}")

    def read(rel: str, path: Path) -> Document | Skipped:
        try:
            return reader(path, rel)
        except UnusableFileError as err:
            return Skipped(rel, err.reason)

    with FileReader(max_bytes, timeout_s) as reader:
        return collect_documents(corpus_dir, [read(rel, path) for rel, path in files.items()], skipped)


def collect_documents(corpus_dir: Path, read: Sequence[Document | Skipped], skipped: Sequence[Skipped] = ()
                      ) -> tuple[list[Document], list[Skipped]]:
    """The documents of files read in corpus order (a byte-identical duplicate of an earlier one skipped), and
    every file skipped, by path; :class:`CorpusError` when none is left. Shared by :func:`load_corpus` and the
    engines that read files elsewhere (:mod:`citeqa.cluster.build`)."""
    docs: list[Document] = []
    skipped = list(skipped)
    seen: dict[str, str] = {}
    for doc in read:
        if isinstance(doc, Skipped):
            skipped.append(doc)
            continue
        rel = doc.path
        if doc.sha256 in seen:
            skipped.append(Skipped(rel, f"duplicate of {seen[doc.sha256]}"))
            continue
        seen[doc.sha256] = rel
        docs.append(doc)
    skipped.sort(key=lambda s: s.path)
    if not docs:
        lines = [f"  {s.path}: {s.reason}" for s in skipped[:20]]
        more = [f"  ... and {len(skipped) - 20} more"] if len(skipped) > 20 else []
        head = f"nothing readable in {corpus_dir}; every file was skipped:"
        raise CorpusError("\n".join([head, *lines, *more]))
    return docs, skipped
