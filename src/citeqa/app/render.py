"""HTML for the chat app: answers, evidence, passages, documents. Pure functions, no Gradio.

Every piece of text that comes from a document, a question or an error goes
through :func:`esc` (or :func:`esc_pre`), which HTML-escapes it (``& < > " '``,
as ``html.escape`` does) and, in the same pass, turns the characters that
Markdown, LaTeX and Gradio's HTML templates would act on into numeric
character references. The result displays as plain text wherever it lands
(inside ``gr.Chatbot``'s Markdown renderer or a ``gr.HTML`` template), so a
document holding ``<script>``, ``<img onerror=…>``, ``[link](javascript:…)``
or ``**bold**`` shows exactly those characters and runs nothing.
Chat messages hold no newline (line breaks become ``<br>``), so Markdown never
splits them into blocks; panels shown in ``gr.HTML`` keep newlines inside
``white-space: pre-wrap`` blocks so line structure survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from citeqa.models import Answer, Citation, Passage

# Characters Markdown (emphasis, links, lists, headings, tables, code), LaTeX ($) and
# Gradio's template engine (${…}, {{…}}) give a meaning to; "." and ":" stop autolinks.
_ACTIVE = "\\`*_{}[]()#+-.!|~$:=@"
_TABLE = {ord(ch): f"&#{ord(ch)};" for ch in _ACTIVE}
_TABLE.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#39;"})
_PRE_TABLE = {**_TABLE, ord("\r"): "", ord("\t"): "&#9;"}
_ATTR_TABLE = {**_PRE_TABLE, ord("\n"): "&#10;"}
_TABLE.update({ord("\r"): "", ord("\n"): "<br>", ord("\t"): "&#9;"})

TARGET_ID = "cq-target"


def esc(text: str) -> str:
    """Text made safe for any HTML/Markdown context: escaped, line breaks as ``<br>``."""
    return str(text).translate(_TABLE)


def esc_attr(text: str) -> str:
    """Like :func:`esc` for an attribute value: newlines kept as ``&#10;``."""
    return str(text).translate(_ATTR_TABLE)


def esc_pre(text: str) -> str:
    """Like :func:`esc` but keeps newlines as characters (for ``white-space: pre-wrap`` blocks)."""
    return str(text).translate(_PRE_TABLE)


def line_range(text: str, start: int, end: int) -> tuple[int, int]:
    """1-based first and last line of ``text[start:end]``."""
    first = text.count("\n", 0, start) + 1
    last = text.count("\n", 0, max(start, end - 1)) + 1 if end > start else first
    return first, last


def lines_label(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}–{last}"


def question_html(question: str) -> str:
    """The user's message as shown in the chat."""
    return f'<span class="cq-question">{esc(question)}</span>'


def short(text: str, limit: int = 220) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def where(doc: str, section: str, page: int | None = None) -> str:
    return f"{esc(doc)} — {esc(section) if section else '<em>no section</em>'}" + (f" — p. {page}" if page else "")


def error_html(message: str) -> str:
    """A problem with the question or the index, as a chat message."""
    return f'<div class="cq-error">⚠ {esc(message)}</div>'


def _passage_for(c: Citation, passages: Sequence[Passage]) -> Passage | None:
    for p in passages:
        if p.chunk.doc == c.doc and p.chunk.start <= c.start and c.end <= p.chunk.end:
            return p
    return None


def highlight(text: str, start: int, end: int, mark_id: str | None = None) -> str:
    """``text`` escaped (newlines kept), with ``text[start:end]`` inside ``<mark>``."""
    return highlight_many(text, [(start, end)], mark_id)


def evidence_html(answer: Answer | None, texts: Mapping[str, str]) -> str:
    """The evidence panel: each citation with where it stands and its passage, the quote marked.

    ``texts`` maps document paths to their full text (for line numbers and
    passages that were not retrieved).
    """
    if answer is None:
        return '<div class="cq-evidence cq-empty">Ask a question: the evidence for the answer shows here.</div>'
    if not answer.citations:  # a tentative answer keeps its citations, and shows them
        return (
            '<div class="cq-evidence cq-empty">No citation: the documents don\'t answer this question. '
            "The closest passages are listed under <em>All retrieved passages</em>.</div>"
        )
    groups: dict[tuple[str, int, int], list[Citation]] = {}  # one card per passage, all its citations marked
    for c in answer.citations:
        p = _passage_for(c, answer.passages)
        key = (c.doc, p.chunk.start, p.chunk.end) if p is not None else (c.doc, c.start, c.end)
        groups.setdefault(key, []).append(c)
    cards = []
    for (doc, a, b), cites in groups.items():
        text = texts.get(doc, "")
        p = _passage_for(cites[0], answer.passages)
        body = p.chunk.text if p is not None else (text[a:b] if text else cites[0].quote)
        marks = "".join(f'<span class="cq-ref">[{c.n}]</span>' for c in cites)
        metas = "".join(f'<div class="cq-meta">[{c.n}] section: {esc(c.section) if c.section else "<em>none</em>"}'
                        f" · {_where_in(c, text)}characters {c.start}–{c.end}</div>" for c in cites)
        cards.append(
            f'<div class="cq-card" data-cite="{cites[0].n}" data-cites="{" ".join(str(c.n) for c in cites)}">'
            f'<div class="cq-card-head">{marks} <span class="cq-doc-name">{esc(doc)}</span></div>{metas}'
            f'<div class="cq-passage">{highlight_many(body, [(c.start - a, c.end - a) for c in cites])}</div>'
            f'<button class="cq-open" data-cite="{cites[0].n}" type="button">Open in document ↗</button>'
            "</div>"
        )
    copy = esc_attr(plain_text(answer, texts))
    head = (f'<div class="cq-for">Evidence for: “{esc(answer.question)}”'
            f'<button class="cq-copy" type="button" data-text="{copy}">Copy answer</button></div>')
    return f'<div class="cq-evidence">{head}{"".join(cards)}</div>'


def _where_in(c: Citation, text: str) -> str:
    if c.page:
        return f"p. {c.page}, "
    return f"{lines_label(*line_range(text, c.start, c.end))}, " if text else ""


def plain_text(answer: Answer, texts: Mapping[str, str]) -> str:
    """The answer as plain text for the clipboard: each quote with its [n], then "[n] doc, section, p. N"."""
    quotes = "\n\n".join(f"“{c.quote}” [{c.n}]" for c in answer.citations)
    refs = "\n".join(f"[{c.n}] {c.doc}, {c.section or 'no section'}, "
                     f"{_where_in(c, texts.get(c.doc, ''))}characters {c.start}–{c.end}" for c in answer.citations)
    return f"{answer.question}\n\n{quotes}\n\n{refs}\n"


def highlight_many(text: str, ranges: Sequence[tuple[int, int]], mark_id: str | None = None) -> str:
    """``text`` escaped (newlines kept), each range inside ``<mark>`` (overlaps merged; the first carries
    ``mark_id``)."""
    spans = sorted((max(0, min(a, len(text))), max(0, min(b, len(text)))) for a, b in ranges)
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    out, pos = [], 0
    for n, (a, b) in enumerate(merged):
        ident = f' id="{mark_id}"' if mark_id and n == 0 else ""
        out += [esc_pre(text[pos:a]), f'<mark class="cq-target"{ident}>{esc_pre(text[a:b])}</mark>']
        pos = b
    out.append(esc_pre(text[pos:]))
    return "".join(out)


def _score(x: float | None, fmt: str = "{:.3f}") -> str:
    return "—" if x is None else fmt.format(x)


def passages_html(answer: Answer | None) -> str:
    """Every retrieved passage with its fused, dense and BM25 scores."""
    if answer is None or not answer.passages:
        return '<div class="cq-passages cq-empty">No passages yet.</div>'
    rows = []
    for p in answer.passages:
        ch = p.chunk
        cite = next((c for c in answer.citations if c.doc == ch.doc and ch.start <= c.start < c.end <= ch.end), None)
        star = " cq-cited" if cite else ""
        body = highlight(ch.text, cite.start - ch.start, cite.end - ch.start) if cite else esc_pre(ch.text)
        rows.append(
            f'<details class="cq-pass{star}"><summary>'
            f'<span class="cq-rank">#{p.rank}</span> {where(ch.doc, ch.section, p.page)} '
            f'<span class="cq-scores">fused {_score(p.score, "{:.4f}")} · dense {_score(p.dense_score)} · '
            f"BM25 {_score(p.bm25_score, '{:.2f}')}</span></summary>"
            f'<div class="cq-passage">{body}</div>'
            f'<button class="cq-open" data-rank="{p.rank}" type="button">Open in document ↗</button>'
            "</details>"
        )
    return f'<div class="cq-passages">{"".join(rows)}</div>'


def document_html(path: str, text: str | None, start: int | None = None, end: int | None = None,
                  page: int | None = None, figure: str = "") -> str:
    """The whole document, escaped; ``text[start:end]`` marked with ``id="cq-target"`` (scrolled to).

    ``figure`` (HTML, for a PDF: the rendered page with the quote marked) stands beside the text."""
    if text is None:
        return f'<div class="cq-docview cq-empty">The document {esc(path)} is not in the index.</div>'
    if start is None or end is None:
        head, body = f"{len(text):,} characters", esc_pre(text)
    else:
        where = f"p. {page}" if page else lines_label(*line_range(text, start, end))
        head, body = f"{where}, characters {start}–{end} highlighted", highlight(text, start, end, TARGET_ID)
    pre = f'<pre class="cq-doctext">{body}</pre>'
    return (f'<div class="cq-docview"><div class="cq-card-head"><span class="cq-doc-name">{esc(path)}</span> '
            f'<span class="cq-meta">{head}</span></div>'
            + (f'<div class="cq-split">{figure}{pre}</div>' if figure else pre) + "</div>")


def _size(n: int) -> str:
    exp = min(3, max(0, (n.bit_length() - 1) // 10))  # 0 bytes, 1 KB, 2 MB, 3 GB
    return f"{n:,} bytes" if exp == 0 else f"{n / 1024**exp:.1f} {('KB', 'MB', 'GB')[exp - 1]}"


def documents_html(docs: Sequence[tuple[str, str, int]], file_sizes: Mapping[str, int] | None = None) -> str:
    """The indexed documents: path, format, characters and file size."""
    if not docs:
        return '<div class="cq-docs cq-empty">No document is indexed yet.</div>'
    sizes = file_sizes or {}
    rows = "".join(
        f"<tr><td>{esc(path)}</td><td>{esc(fmt)}</td><td>{chars:,}</td>"
        f"<td>{_size(sizes[path]) if path in sizes else '—'}</td>"
        f'<td><button class="cq-remove" type="button" data-path="{esc_attr(path)}">Remove</button></td></tr>'
        for path, fmt, chars in docs
    )
    return (
        f'<div class="cq-docs"><p>{len(docs)} document{"s" if len(docs) != 1 else ""} indexed.</p>'
        "<table><thead><tr><th>document</th><th>type</th><th>characters</th><th>file size</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


STYLE = """
.cq-answer blockquote.cq-quote { margin: 0 0 .4em; padding: .1em .8em; border-left: 3px solid #6366f1; }
.cq-tentative blockquote.cq-quote { border-left: 3px dashed #d97706; }
.cq-ref { color: #4f46e5; font-weight: 600; }
sup.cq-ref { margin-left: 1px; }
mark.cq-span { background: transparent; color: inherit; border-bottom: 2px dotted #4f46e5; padding: 0 .1em;
  cursor: help; }
.cq-legend, .cq-followup { color: #6b7280; font-size: .82em; margin: .1em 0 .3em; }
a.cq-ref-link { color: #4f46e5; text-decoration: none; }
.cq-for { color: #4b5563; font-size: .85em; margin-bottom: .5em; display: flex; gap: .6em; align-items: center;
  justify-content: space-between; }
button.cq-copy { border: 1px solid #d1d5db; background: #fff; border-radius: 6px; padding: .1em .5em;
  cursor: pointer; font-size: .85em; }
@keyframes cq-flash { from { background: #e0e7ff; } to { background: transparent; } }
.cq-card.cq-flash { animation: cq-flash 1.6s ease-out; }
.cq-docs { overflow-x: auto; }
.cq-sources, .cq-closest { margin: .2em 0 .4em 1.1em; padding: 0; font-size: .9em; }
.cq-conf { display: inline-block; font-size: .85em; padding: .05em .5em; border-radius: 9px; }
.cq-conf-high { background: #dcfce7; color: #166534; }
.cq-conf-medium { background: #fef3c7; color: #92400e; }
.cq-conf-low { background: #fee2e2; color: #991b1b; }
.cq-error { color: #b91c1c; }
.cq-snippet { color: #4b5563; }
.cq-card, .cq-pass, .cq-docview { border: 1px solid #e5e7eb; border-radius: 8px; padding: .6em .8em;
  margin-bottom: .6em; }
.cq-card-head { font-weight: 600; }
.cq-meta, .cq-scores { color: #6b7280; font-size: .85em; font-weight: normal; }
.cq-passage { white-space: pre-wrap; margin: .4em 0; line-height: 1.5; }
mark.cq-target { background: #fde047; color: inherit; padding: 0 .1em; border-radius: 2px; }
.cq-pass.cq-cited { border-color: #a5b4fc; }
.cq-pass summary { cursor: pointer; }
button.cq-open { border: 1px solid #c7d2fe; background: #eef2ff; border-radius: 6px; padding: .15em .6em;
  cursor: pointer; font-size: .85em; }
button.cq-open:hover { background: #e0e7ff; }
pre.cq-doctext { white-space: pre-wrap; word-wrap: break-word; max-height: 60vh; overflow: auto;
  font-family: inherit; font-size: .9em; line-height: 1.5; background: #fafafa; padding: .6em; margin: .4em 0 0; }
.cq-docs table { width: 100%; border-collapse: collapse; font-size: .9em; min-width: 420px; }
.cq-docs td, .cq-docs th { text-align: left; padding: .2em .4em; border-bottom: 1px solid #e5e7eb; }
.cq-empty { color: #6b7280; }
"""
