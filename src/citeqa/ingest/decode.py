"""Decoding a text or HTML file's bytes: BOMs, UTF-8, a ``<meta>`` charset, else cp1252/Latin-1; binary refused."""

from __future__ import annotations

import re


class BinaryFileError(ValueError):
    """The bytes are not text (NUL bytes, mostly control bytes, or a BOM that does not decode)."""


# Control bytes (C0 except \t \n \v \f \r, and DEL), and bytes cp1252 leaves undefined.
_CONTROL = bytes(b for b in range(256) if b < 9 or 13 < b < 32 or b == 127)
_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode_text(data: bytes) -> str:
    """Decode a text file's bytes.

    UTF-16/32 with a BOM is honoured. Otherwise the bytes must be UTF-8 (a
    leading BOM, U+FEFF, is dropped after decoding) or, failing that, are read
    as cp1252 (Latin-1 where cp1252 leaves a byte undefined). Data with NUL
    bytes or more than 30% control bytes is refused (:class:`BinaryFileError`).
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise BinaryFileError from None
    try:
        text: str | None = data.decode("utf-8")
        nontext = _CONTROL
    except UnicodeDecodeError:
        text, nontext = None, _CONTROL + _UNDEFINED
    controls = len(data) - len(data.translate(None, nontext))
    if b"\x00" in data or controls > 0.3 * len(data):
        raise BinaryFileError
    if text is None:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return text.removeprefix("\ufeff")


def decode_html(data: bytes) -> str:
    """Decode HTML: BOM, else UTF-8, else ``<meta>`` charset, else cp1252/Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return decode_text(data)
    if b"\x00" in data:
        raise BinaryFileError
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
