"""Saving uploaded files into the corpus folder, safely.

A file is checked (type, size, readable by :mod:`citeqa.ingest.files`) before it
lands in the corpus, under a sanitised name, and never over another file: a
name already taken by different content gets a numeric suffix
(``report-1.pdf``). The file is written to a hidden temporary name first
(hidden files are ignored by the corpus scan) and then linked into place in
one step, so a concurrent index build never reads half a file.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from citeqa.errors import InputError
from citeqa.ingest.files import DEFAULT_TIMEOUT_S, SUPPORTED, FileReader, UnusableFileError
from citeqa.models import sha256_hex

MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20
MAX_NAME_CHARS = 120
MAX_NAME_BYTES = 200  # under the usual 255-byte limit, leaving room for a "-N" suffix and a temporary prefix
_UNSAFE = re.compile(r"[^\w.\- ]+")  # \w is Unicode-aware: letters and digits of any script
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


@dataclass(frozen=True)
class SavedUpload:
    """Where an upload went: ``rel`` is its corpus-relative path; ``new`` is False for an identical copy."""

    path: Path
    rel: str
    new: bool


def safe_filename(name: str) -> str:
    """A harmless file name for ``name`` as a browser or client sent it.

    Directories are dropped (both ``/`` and ``\\``), the name is NFKC-normalised,
    control and unsafe characters become ``_``, runs of dots collapse (no ``..``),
    leading dots, dashes and spaces go (no hidden names, no option-like names),
    the extension is lower-cased and the whole is kept under
    :data:`MAX_NAME_CHARS` characters.

    Raises:
        InputError: the extension is not one of :data:`citeqa.ingest.files.SUPPORTED`.
    """
    base = re.split(r"[/\\]", str(name))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join("_" if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in base)
    base = _UNSAFE.sub("_", base)
    base = re.sub(r"\.{2,}", ".", base)
    base = re.sub(r"\s+", " ", base).rstrip(" .")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = "." + ext.lower() if ext else ""
    if ext not in SUPPORTED:
        kinds = ", ".join(SUPPORTED)
        shown = ext or "no extension"
        raise InputError(f"{base or 'the file'} has an unsupported type ({shown}); upload {kinds}")
    stem = stem.lstrip(" .-_").rstrip(" .") or "upload"
    if stem.lower() in _RESERVED:
        stem = f"{stem}_"
    stem = stem[: MAX_NAME_CHARS - len(ext)]
    while len((stem + ext).encode("utf-8")) > MAX_NAME_BYTES:  # file systems count bytes, not characters
        stem = stem[:-1]
    stem = stem.rstrip(" .") or "upload"
    return stem + ext


def check_uploaded(source: Path, upload_dir: Path) -> Path:
    """``source`` resolved, if it lies inside the web server's upload folder ``upload_dir``.

    The upload handler's own check, whatever the web framework checked: a client can name any path on the
    server in an upload event, and only files the server itself received may be read.

    Raises:
        InputError: ``source`` (after following links) is outside ``upload_dir`` or not a regular file.
    """
    try:
        real, root = Path(source).resolve(strict=True), Path(upload_dir).resolve()
    except (OSError, RuntimeError):
        raise InputError("refused: that file was not uploaded to this server") from None
    if root == real or root not in real.parents or not real.is_file():
        raise InputError("refused: that file was not uploaded to this server")
    return real


def discard_upload(source: Path, upload_dir: Path) -> None:
    """Remove the web server's copy of an upload (and its folder, when empty) once it is stored or refused."""
    try:
        real = check_uploaded(source, upload_dir)
    except InputError:
        return
    real.unlink(missing_ok=True)
    try:
        if real.parent != Path(upload_dir).resolve():
            real.parent.rmdir()
    except OSError:
        pass


def _candidates(name: str) -> list[str]:
    stem, ext = os.path.splitext(name)
    return [name] + [f"{stem}-{i}{ext}" for i in range(1, 1000)]


def _place(tmp: Path, target: Path, data: bytes) -> None:
    """Put ``tmp``'s bytes at ``target``; raise FileExistsError if the name is taken (never overwrite)."""
    try:
        os.link(tmp, target)  # atomic: the file appears whole, or not at all
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system: exclusive create, then write
        with open(target, "xb") as fh:
            fh.write(data)


def save_upload(
    source: Path, corpus_dir: Path, original_name: str | None = None, max_bytes: int = MAX_UPLOAD_BYTES,
    known: Mapping[str, str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SavedUpload:
    """Copy an uploaded file into ``corpus_dir`` under a safe, unused name.

    Args:
        source: The uploaded file (a temporary file of the web server).
        corpus_dir: The corpus folder; the file is stored directly inside it.
        original_name: The name the user gave the file (default: ``source``'s name).
        max_bytes: Larger files are refused.
        known: sha256 → corpus-relative path of files already in the corpus (the index's fingerprints): the same
            bytes under another name are not stored again.
        timeout_s: A PDF, Word or HTML upload still being read after this many seconds is refused.

    Returns:
        Where it was stored. Uploading the same bytes under the same name again
        returns the existing file with ``new=False``.

    Raises:
        InputError: wrong type, too large, empty, unreadable as a document (binary,
            PDF without text, …) or no free name left.
    """
    name = safe_filename(original_name if original_name is not None else Path(source).name)
    try:
        size = os.stat(source).st_size
    except OSError as exc:
        raise InputError(f"the upload {name} cannot be read: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise InputError(f"{name} is {size / 2**20:.1f} MB; the upload limit is {max_bytes / 2**20:g} MB")
    if size == 0:
        raise InputError(f"{name} is empty")
    corpus_dir.mkdir(parents=True, exist_ok=True)
    root = corpus_dir.resolve()
    tmp = root / f".upload-{uuid.uuid4().hex}{Path(name).suffix}"
    try:
        data = Path(source).read_bytes()
        try:
            tmp.write_bytes(data)
        except OSError as exc:  # a full disk, a read-only corpus folder
            raise InputError(f"{name} could not be stored in the corpus folder {corpus_dir}: "
                             f"{exc.strerror or exc}; nothing was added") from None
        try:
            with FileReader(max_bytes, timeout_s) as read:
                read(tmp, name)
        except UnusableFileError as exc:
            raise InputError(f"{name} {exc.reason}; it was not added") from None
        digest = sha256_hex(data)
        same = (known or {}).get(digest)
        if same is not None and (root / same).is_file() and sha256_hex((root / same).read_bytes()) == digest:
            return SavedUpload(root / same, same, False)
        for candidate in _candidates(name):
            target = root / candidate
            if target.parent != root:  # cannot happen after safe_filename; refuse rather than trust
                raise InputError(f"refusing to store {name!r} outside the corpus folder")
            try:
                _place(tmp, target, data)
            except FileExistsError:
                if target.is_file() and not target.is_symlink() and sha256_hex(target.read_bytes()) == digest:
                    return SavedUpload(target, candidate, False)
                continue
            return SavedUpload(target, candidate, True)
        raise InputError(f"too many files named like {name} in the corpus folder")
    finally:
        tmp.unlink(missing_ok=True)
