"""What the CLI prints to a terminal: never a control sequence that came from a document or a file name.

Text from documents and file names can hold ESC, BEL, OSC and C1 bytes (clear the screen, set the window title,
write the clipboard) or right-to-left overrides. :class:`SafeStream` writes every such character as a visible
escape (``\\x1b``), keeping only newline, tab and carriage return (progress bars); :func:`name` also escapes
newlines, so a file name cannot forge a line of output. JSON output is unaffected (JSON escapes controls itself).
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with terminal control characters (not newline, tab or carriage return) as visible escapes."""
    return _CONTROL.sub(_escape, text)


def name(text: object) -> str:
    """A file name or other one-line value for a message: every control character escaped, newlines too."""
    return _CONTROL_OR_LINE.sub(_escape, str(text))


class SafeStream:
    """A text stream that passes everything written through :func:`visible`."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(visible(text))
        return len(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def tolerant_io() -> None:
    """Never crash on text, never pass control sequences: undecodable bytes on stdin become U+FFFD, a terminal
    that cannot show some characters (``PYTHONIOENCODING=ascii``, a legacy code page) gets escapes for them, and
    stdout and stderr are :class:`SafeStream`\\ s."""
    if hasattr(sys.stdin, "reconfigure"):
        try:
            sys.stdin.reconfigure(errors="replace")
        except (ValueError, OSError, AttributeError):
            pass
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding and not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    if not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)  # type: ignore[assignment]
