"""One function run in a child process that can be stopped: the per-file time limit of reading.

A PDF or Word file is parsed by third-party code (pdfium, the zip and XML readers) whose running time a hostile
file can stretch and which can crash the process it runs in. :class:`Isolated` runs a function named by
``"module:function"`` (arguments and result plain JSON values) in one long-lived child Python process (started
on first use, reused for every call) and waits at most ``timeout_s`` seconds for each answer. A call that runs
over is answered with :class:`TimedOut` and the child is killed (the next call starts a fresh one). The limit
counts from the request: the child's start (Python and the target's imports) is waited for apart, up to
:data:`START_S`. A child that dies (a crash in native code, the kernel's out-of-memory killer) is answered with
:class:`ChildDied`. An exception the function raises comes back as :class:`ChildError` with its type's name,
message and plain attributes.

The child is ``python -m citeqa.ingest.isolate module:function``; requests and answers are length-prefixed JSON
on its stdin and stdout (the child's own fd 1 points at stderr, so a stray print cannot corrupt an answer). JSON,
not pickle: no code-executing format anywhere in citeqa (``tests/system/test_reliability.py``).
"""

from __future__ import annotations

import importlib
import json
import os
import select
import struct
import subprocess
import sys
import time
from typing import Any, BinaryIO

_LEN = struct.Struct(">Q")
START_S = 120.0  # the child's start (Python, the target's imports) is not the call's time: it has this long


class TimedOut(Exception):
    """The call ran past its time limit; the child was stopped."""


class ChildError(Exception):
    """The function raised ``kind`` (its type's name) with ``message``; ``fields``: its plain attributes."""

    def __init__(self, kind: str, message: str, fields: dict[str, Any]) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.fields = kind, message, fields


class ChildDied(Exception):
    """The child process ended without answering (``code`` is its exit status, negative for a signal)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"the reader process stopped (exit status {code})")
        self.code = code


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    """``n`` bytes from ``fd``, waiting until ``deadline`` (``time.monotonic``) at most."""
    parts: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimedOut
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _write(stream: BinaryIO, obj: Any) -> None:
    data = json.dumps(obj).encode("ascii")  # ASCII escapes keep even a lone surrogate intact
    stream.write(_LEN.pack(len(data)) + data)
    stream.flush()


class Isolated:
    """Calls of ``target`` (``"module:function"``) in a child process, each stopped after ``timeout_s``."""

    def __init__(self, target: str, timeout_s: float) -> None:
        self.target, self.timeout_s = target, timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Isolated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = proc = subprocess.Popen(
                [sys.executable, "-m", "citeqa.ingest.isolate", self.target],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": _pythonpath()},
                start_new_session=True)  # a terminal's Ctrl-C reaches the parent only, which stops the child
            assert proc.stdout is not None
            try:  # it says it is ready once the target is imported
                _read_exact(proc.stdout.fileno(), _LEN.size + 1, time.monotonic() + START_S)
            except (TimedOut, EOFError, OSError):
                raise ChildDied(self.close()) from None
        return self._proc

    def __call__(self, *args: Any) -> Any:
        """``target(*args)`` in the child: its result, or :class:`ChildError` for the exception it raised."""
        proc = self._child()
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + self.timeout_s
        try:
            _write(proc.stdin, args)
            fd = proc.stdout.fileno()
            (size,) = _LEN.unpack(_read_exact(fd, _LEN.size, deadline))
            answer = json.loads(_read_exact(fd, size, deadline))
        except TimedOut:
            self.close()
            raise
        except (EOFError, BrokenPipeError, OSError):
            code = self.close()
            raise ChildDied(code) from None
        if "error" in answer:
            raise ChildError(answer["error"], answer["message"], answer["fields"])
        return answer["ok"]

    def close(self) -> int | None:
        """Stop the child (if any); its exit status."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        return code


def _pythonpath() -> str:
    """The parent's import path, so the child imports the same citeqa (and a test's own modules)."""
    return os.pathsep.join(p for p in sys.path if p)


def _serve(target: str) -> None:
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed by the function or a library goes to stderr, not into an answer
    sys.stdout = sys.stderr
    out.write(_LEN.pack(1) + b"R")  # ready
    out.flush()
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(_LEN.size)
        if len(head) < _LEN.size:
            return
        args = json.loads(stdin.read(_LEN.unpack(head)[0]))
        try:
            answer: dict[str, Any] = {"ok": fn(*args)}
        except Exception as exc:  # any error: handed to the caller
            fields = {k: v for k, v in vars(exc).items() if isinstance(v, str | int | float | bool)}
            answer = {"error": type(exc).__name__, "message": str(exc), "fields": fields}
        _write(out, answer)


if __name__ == "__main__":
    _serve(sys.argv[1])
