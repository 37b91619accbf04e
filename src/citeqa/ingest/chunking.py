"""Structure-aware chunking: a pure function from a document to its chunks.

Headings split a document into sections; a chunk never crosses a heading and
never cuts a sentence. Paragraphs are packed into chunks of at most
``chunk_chars`` characters; a lead-in line ending with a colon stays with the
list under it. Heading lines are not part of any chunk's text: they are the
chunk's ``section``. Invariant: ``doc.text[c.start:c.end] == c.text``.
"""

from __future__ import annotations

from citeqa.ingest.sentences import is_bullet, paragraphs, split_sentences
from citeqa.models import Chunk, Document, Heading, Span

MAX_TITLE_CHARS = 100
MAX_TITLE_WORDS = 14


def detect_headings(text: str) -> tuple[Heading, ...]:
    """Title lines of a plain-text document.

    A title line is a one-line paragraph, short, not ending in sentence
    punctuation, not a bullet, followed by more text, and either the document's
    first paragraph or written in title case ("EU-China IoT Advisory Group").
    """
    paras = paragraphs(text)
    found: list[Heading] = []
    for i, p in enumerate(paras[:-1]):
        line = text[p.start : p.end]
        if "\n" in line or len(line) > MAX_TITLE_CHARS or line[-1] in ".,;:?!…" or not line[0].isalnum():
            continue
        if not (line[0].isupper() or line[0].isdigit()) or is_bullet(text, p):
            continue
        ws = line.split()
        if len(ws) > MAX_TITLE_WORDS:
            continue
        long_words = [w for w in ws if sum(c.isalpha() for c in w) >= 4]
        capitalised = sum(w[0].isupper() or w[0].isdigit() for w in long_words)
        if i == 0 or (long_words and capitalised / len(long_words) >= 0.5):
            found.append(Heading(line, p.start, p.end, 1))
    return tuple(found)


def sections(doc: Document) -> list[tuple[str, Span]]:
    """``(section title, span of the body)`` pairs covering the document, in order."""
    heads = doc.headings if doc.format in ("md", "html", "docx") else (doc.headings or detect_headings(doc.text))
    heads = tuple(sorted(heads, key=lambda h: h.start))
    out: list[tuple[str, Span]] = []
    title, pos = "", 0
    for h in heads:
        if h.start < pos:
            continue
        if h.start > pos:
            out.append((title, Span(pos, h.start)))
        title, pos = " ".join(h.title.split()), h.end
    if pos < len(doc.text):
        out.append((title, Span(pos, len(doc.text))))
    return out


def _units(text: str, body: Span, max_sentence: int) -> list[list[Span]]:
    """Sentence groups that must stay together: paragraphs, a lead-in with its list."""
    units: list[list[Span]] = []
    lead_in_open = False
    for para in paragraphs(text, body.start, body.end):
        sents = split_sentences(text, para.start, para.end, max_len=max_sentence)
        if not sents:
            continue
        if units and lead_in_open and is_bullet(text, para):
            units[-1].extend(sents)
        else:
            units.append(sents)
        last = units[-1][-1]
        lead_in_open = text[last.end - 1] == ":" or (lead_in_open and is_bullet(text, para))
    return units


def chunk_document(doc: Document, chunk_chars: int = 700, overlap_sentences: int = 0) -> list[Chunk]:
    """Split ``doc`` into chunks of whole sentences, at most ``chunk_chars`` long where possible.

    ``overlap_sentences`` repeats that many trailing sentences of a chunk at the
    start of the next chunk of the same section.
    """
    if chunk_chars < 50:
        raise ValueError("chunk_chars must be at least 50")
    text = doc.text
    chunks: list[Chunk] = []
    for title, body in sections(doc):
        groups: list[list[Span]] = []
        cur: list[Span] = []
        for unit in _units(text, body, max_sentence=chunk_chars):
            if cur and unit[-1].end - cur[0].start > chunk_chars:
                groups.append(cur)
                cur = []
            if unit[-1].end - unit[0].start > chunk_chars:
                groups.extend(_pack(unit, chunk_chars))
            else:
                cur = cur + unit
        if cur:
            groups.append(cur)
        prev: list[Span] = []
        for group in groups:
            sents = (prev[-overlap_sentences:] if overlap_sentences and prev else []) + group
            a, b = sents[0].start, sents[-1].end
            chunks.append(Chunk(doc.path, title, a, b, text[a:b], tuple(sents)))
            prev = group
    return chunks


def _pack(sents: list[Span], chunk_chars: int) -> list[list[Span]]:
    """Greedy packing of one long unit's sentences into groups."""
    groups: list[list[Span]] = []
    cur: list[Span] = []
    for s in sents:
        if cur and s.end - cur[0].start > chunk_chars:
            groups.append(cur)
            cur = []
        cur.append(s)
    if cur:
        groups.append(cur)
    return groups


def chunk_corpus(docs: list[Document], chunk_chars: int = 700, overlap_sentences: int = 0) -> list[Chunk]:
    """Chunks of every document, in corpus order."""
    return [c for d in docs for c in chunk_document(d, chunk_chars, overlap_sentences)]
