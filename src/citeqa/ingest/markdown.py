"""Markdown headings located exactly in the file's text (ATX and setext; code fences and front matter skipped)."""

from __future__ import annotations

import re

from citeqa.models import Heading

_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_NOT_PARA = re.compile(r" {0,3}([-*+>]|\d{1,9}[.)])(\s|$)| {4}|\s*$")


def markdown_headings(text: str) -> tuple[Heading, ...]:
    """ATX (``# Title``) and setext (``Title`` over ``===``/``---``) headings.

    Offsets span the heading line (for setext, the title line and its
    underline), without the line break. Fenced code and YAML front matter are
    ignored; a setext title must be a one-line paragraph.
    """
    lines, pos = text.split("\n"), 0
    starts: list[int] = []
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    lines = [ln.rstrip("\r") for ln in lines]
    first = 0
    if lines[0].rstrip() == "---":  # YAML front matter
        ends = [j for j in range(1, len(lines)) if lines[j].rstrip() in ("---", "...")]
        first = ends[0] + 1 if ends else 0
    out: list[Heading] = []
    # para: a one-line paragraph that the next line may underline as a setext heading
    fence, can_start = "", True
    para: int | None = None
    for i in range(first, len(lines)):
        line, stripped = lines[i], lines[i].strip()
        end = starts[i] + len(line.rstrip())
        if fence:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = ""
            para, can_start = None, not fence
        elif m := _FENCE.match(line):
            fence, para, can_start = m.group(1), None, False
        elif m := _ATX.match(line):
            if m.group(2).strip():
                out.append(Heading(m.group(2).strip(), starts[i], end, len(m.group(1))))
            para, can_start = None, True
        elif (m := _SETEXT.match(line)) and para is not None:
            level = 1 if m.group(1)[0] == "=" else 2
            out.append(Heading(lines[para].strip(), starts[para], end, level))
            para, can_start = None, True
        else:
            ok = can_start and not _NOT_PARA.match(line) and not _SETEXT.match(line)
            para, can_start = (i if ok else None), not stripped
    return tuple(out)
