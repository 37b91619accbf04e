"""Reading the corpus: find supported files and turn each into a :class:`Document`.

Text and Markdown keep the file's characters exactly (newlines included);
HTML becomes its visible text; PDF becomes the text layer of its pages.
A file that cannot be used is reported as :class:`Skipped`, never fatal.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from citeqa.errors import CorpusError, InputError
from citeqa.ingest.html import html_to_text
from citeqa.ingest.markdown import markdown_headings
from citeqa.models import Document, Heading, sha256_hex

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
DEFAULT_MAX_BYTES = 100 * 2**20
_FORMATS = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".pdf": "pdf"}
_OUTSIDE = "symlink points outside the corpus folder"
# Control bytes (C0 except \t \n \v \f \r, and DEL), and bytes cp1252 leaves undefined.
_CONTROL = bytes(b for b in range(256) if b < 9 or 13 < b < 32 or b == 127)
_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


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


def _check_dir(corpus_dir: Path) -> None:
    if not corpus_dir.exists():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus path {corpus_dir} is not a folder")


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # symlink loop
        return False


def _scan(corpus_dir: Path) -> tuple[list[Path], list[Skipped]]:
    """Supported files by relative path; symlinks outside, unreadable folders."""
    _check_dir(corpus_dir)
    root = corpus_dir.resolve()
    found: dict[str, Path] = {}
    outside: list[Skipped] = []

    def unreadable(err: OSError) -> None:
        if err.filename and Path(err.filename) != corpus_dir:
            rel = Path(err.filename).relative_to(corpus_dir).as_posix()
            reason = f"folder cannot be read: {err.strerror or err}"
            outside.append(Skipped(rel, reason))

    for here, dirs, files in os.walk(corpus_dir, onerror=unreadable):
        base = Path(here)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in [d for d in dirs if (base / d).is_symlink()]:
            dirs.remove(name)  # not followed; links inside the corpus are seen anyway
            if not _inside(base / name, root):
                rel = (base / name).relative_to(corpus_dir).as_posix()
                outside.append(Skipped(rel, _OUTSIDE))
        for name in files:
            path = base / name
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED:
                continue
            rel = path.relative_to(corpus_dir).as_posix()
            if path.is_symlink() and not _inside(path, root):
                outside.append(Skipped(rel, _OUTSIDE))
            else:
                found[rel] = path
    return [found[k] for k in sorted(found)], sorted(outside, key=lambda s: s.path)


def scan_corpus(corpus_dir: Path) -> list[Path]:
    """List the supported files under ``corpus_dir``, recursively.

    Hidden files and folders (name starting with ``.``) are ignored; symlinked
    folders are not descended into, and symlinks resolving outside the corpus
    are left out (:func:`load_corpus` reports them as skipped).

    Args:
        corpus_dir: The corpus folder.

    Returns:
        The files, sorted by their path relative to ``corpus_dir`` (posix form).

    Raises:
        CorpusError: ``corpus_dir`` does not exist or is not a folder.
    """
    return _scan(corpus_dir)[0]


def corpus_scan(corpus_dir: Path) -> tuple[dict[str, tuple[int, int]], list[Skipped]]:
    """One scan: each supported file's ``(size, mtime_ns)`` by relative path (stat only), and the
    entries :func:`load_corpus` skips without reading (symlinks outside the corpus, unreadable folders)."""
    files, outside = _scan(corpus_dir)
    out: dict[str, tuple[int, int]] = {}
    for path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        out[path.relative_to(corpus_dir).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out, outside


def file_fingerprints(corpus_dir: Path) -> dict[str, tuple[int, int]]:
    """Map each scanned file's relative path to ``(size, mtime_ns)`` (stat only)."""
    return corpus_scan(corpus_dir)[0]


def _decode_text(data: bytes, rel: str) -> str:
    """Decode a text file's bytes.

    UTF-16/32 with a BOM is honoured. Otherwise the bytes must be UTF-8 (a
    leading BOM, U+FEFF, is dropped after decoding) or, failing that, are read
    as cp1252 (Latin-1 where cp1252 leaves a byte undefined). Data with NUL
    bytes or more than 30% control bytes is refused as binary.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise UnusableFileError(rel, "looks binary") from None
    try:
        text: str | None = data.decode("utf-8")
        nontext = _CONTROL
    except UnicodeDecodeError:
        text, nontext = None, _CONTROL + _UNDEFINED
    controls = len(data) - len(data.translate(None, nontext))
    if b"\x00" in data or controls > 0.3 * len(data):
        raise UnusableFileError(rel, "looks binary")
    if text is None:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return text.removeprefix("\ufeff")


def _decode_html(data: bytes, rel: str) -> str:
    """Decode HTML: BOM, else UTF-8, else ``<meta>`` charset, else cp1252/Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_text(data, rel)
    if b"\x00" in data:
        raise UnusableFileError(rel, "looks binary")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        pass
    m = re.search(rb"<meta[^>]+charset=[\"']?([-\w:.]+)", data[:4096], re.IGNORECASE)
    for codec in ([m.group(1).decode("ascii")] if m else []) + ["cp1252"]:
        try:
            return data.decode(codec)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _read_pdf(data: bytes, rel: str) -> str:
    import pypdf  # lazy: only PDF corpora pay for it

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnusableFileError(rel, "is encrypted (password protected)")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnusableFileError:
        raise
    except pypdf.errors.DependencyError:
        raise UnusableFileError(rel, "is encrypted (password protected)") from None
    except Exception as err:  # pypdf raises many kinds of errors on damaged files
        raise UnusableFileError(rel, f"is not a readable PDF ({type(err).__name__}: {err})") from None
    if not any(p.strip() for p in pages):
        raise UnusableFileError(rel, "has no text layer (scanned PDF?)")
    return "\n\n".join(pages)


def read_document(path: Path, rel: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read one file into a :class:`Document`.

    Args:
        path: The file on disk.
        rel: Its path relative to the corpus (``Document.path``; named in errors).
        max_bytes: Larger files are refused.

    Returns:
        The document; ``sha256`` hashes the raw bytes.

    Raises:
        InputError: (an :class:`UnusableFileError`) the file cannot be used:
            unsupported type, unreadable, too large, binary, empty, or a PDF
            without a text layer or that is encrypted or damaged.
    """
    fmt = _FORMATS.get(path.suffix.lower())
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
    if fmt == "pdf":
        text = _read_pdf(data, rel)
    elif fmt == "html":
        try:
            text, headings = html_to_text(_decode_html(data, rel))
        except AssertionError as err:  # html.parser can assert on some broken markup
            raise UnusableFileError(rel, f"is not readable HTML ({err})") from None
    else:
        text = _decode_text(data, rel)
        if fmt == "md" and text.strip():
            headings = markdown_headings(text)
    if not text.strip():
        empty = "is empty (no visible text)" if fmt == "html" else "is empty"
        raise UnusableFileError(rel, empty)
    digest = sha256_hex(data)
    return Document(path=rel, text=text, format=fmt, sha256=digest, headings=headings)


def load_corpus(corpus_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[list[Document], list[Skipped]]:
    """Read every supported file of the corpus.

    Args:
        corpus_dir: The corpus folder.
        max_bytes: Files larger than this are skipped.

    Returns:
        The documents, sorted by path, and the files skipped, with reasons
        (unreadable, binary, empty, no text layer, symlink outside the
        corpus, or a byte-identical duplicate of an earlier file).

    Raises:
        CorpusError: the folder is missing or not a folder, holds no supported
            file, or every file was skipped.
    """
    files, skipped = _scan(corpus_dir)
    if not files and not skipped:
        raise CorpusError(f"no .txt, .md, .html or .pdf files in {corpus_dir}")
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for path in files:
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            doc = read_document(path, rel, max_bytes)
        except UnusableFileError as err:
            skipped.append(Skipped(rel, err.reason))
            continue
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
