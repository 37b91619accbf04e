"""HTML to visible text: block structure kept as line breaks, ``h1``..``h6`` headings located exactly in that text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from citeqa.models import Heading

# fmt: off
_SKIP = {"script", "style", "noscript", "template", "head", "title", "svg", "iframe", "object"}
_HEAD_OK = {"title", "meta", "link", "style", "script", "base", "noscript", "template"}
_HN = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK = {
    "address", "article", "aside", "blockquote", "caption", "center", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "header", "hgroup", "hr", "legend", "li", "main", "menu",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", *_HN,
}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# fmt: on


class _VisibleText(HTMLParser):
    """Builds normalised visible text incrementally, so heading offsets are exact."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.length = self.nl = self.want_nl = self.pre = 0
        self.ws, self.bullet, self.pre_fresh = "", False, False
        self.skip, self.skip_depth = "", 0
        self.heading: list[int] = []  # [level, start, end] of the open heading
        self.headings: list[tuple[int, int, int]] = []

    def _word(self, core: str, ws: str) -> None:
        if self.want_nl and self.length:
            k = max(0, self.want_nl - self.nl)
            self.parts.append("\n" * k)
            self.length, self.nl = self.length + k, self.nl + k
        self.want_nl = 0
        if self.length == 0 or self.nl > 0:  # line start: indent kept only in <pre>
            lead = ("• " if self.bullet else "") + (ws if self.pre else "")
        else:
            lead = ws
        self.bullet = False
        if self.heading and self.heading[1] < 0:
            self.heading[1] = self.length + len(lead)
        self.parts.append(lead + core)
        self.length += len(lead) + len(core)
        self.nl, self.ws = 0, ""
        if self.heading:
            self.heading[2] = self.length

    def _newline(self, n: int) -> None:
        self.want_nl = max(self.want_nl, n) if n == 2 else min(2, self.want_nl + n)
        self.ws = ""

    def _close_heading(self) -> None:
        if self.heading and self.heading[1] >= 0:
            self.headings.append((self.heading[0], self.heading[1], self.heading[2]))
        self.heading = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip:
            if self.skip == "head" and (tag == "body" or tag not in _HEAD_OK):
                self.skip = ""
            else:
                self.skip_depth += tag == self.skip and tag not in _VOID
                return
        style = (dict(attrs).get("style") or "").replace(" ", "").lower()
        hidden = any(k == "hidden" for k, _ in attrs) or "display:none" in style
        if (tag in _SKIP or hidden) and tag not in _VOID:
            self.skip, self.skip_depth = tag, 1
        elif tag == "br":
            self._newline(1)
        elif tag in ("td", "th"):
            self.ws = " "
        elif tag in _BLOCK:
            self._newline(2)
            if tag in _HN or (self.heading and self.heading[1] >= 0):
                self._close_heading()  # a block after heading text ends an open heading
            if tag in _HN:
                self.heading = [int(tag[1]), -1, -1]
            elif tag == "li":
                self.bullet = True
            elif tag == "pre":
                self.pre, self.pre_fresh = self.pre + 1, True

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            self.skip_depth -= tag == self.skip
            if self.skip_depth <= 0:
                self.skip = ""
            return
        if tag in ("td", "th"):
            self.ws = " "
        elif tag in _BLOCK:
            if tag in _HN:
                self._close_heading()
            elif tag == "pre":
                self.pre = max(0, self.pre - 1)
            self.bullet = False
            self._newline(2)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre:
            data = re.sub(r"[ \t\n\r\f\xa0]+", " ", data)
            if data.strip():
                self._word(data.strip(), " " if (self.ws or data[0] == " ") else "")
                self.ws = " " if data.endswith(" ") else ""
            elif data:
                self.ws = " "
            return
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        if self.pre_fresh and data.startswith("\n"):
            data = data[1:]
        self.pre_fresh = False
        for i, line in enumerate(data.split("\n")):
            if i:
                self._newline(1)
            core = line.strip()
            if core:
                self._word(core, self.ws + line[: len(line) - len(line.lstrip())])
                self.ws = line[len(line.rstrip()) :]
            else:
                self.ws += line

    def result(self) -> tuple[str, tuple[Heading, ...]]:
        self._close_heading()
        text = "".join(self.parts)
        return text, tuple(Heading(text[s:e], s, e, lv) for lv, s, e in self.headings if e > s)


def html_to_text(html: str) -> tuple[str, tuple[Heading, ...]]:
    """Visible text of an HTML page, and its ``h1``..``h6`` headings in that text."""
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.result()
