"""Property tests (hypothesis): chunk offsets and coverage, sentence spans, on random Unicode documents."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from citeqa.ingest.chunking import chunk_document, detect_headings
from citeqa.ingest.html import html_to_text
from citeqa.ingest.markdown import markdown_headings
from citeqa.ingest.sentences import BULLET_RE, is_space, split_sentences
from citeqa.models import Chunk, Document, Span, sha256_hex

PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise the splitter: words, titles, sentence ends, abbreviations, line breaks,
# blank lines, CRLF, NBSP, bullets, numbering, markdown, emoji, control characters, combining marks.
PIECES = [
    "word", "Word", "The", "EU-China", "IoT", "MIIT/MoST", "Mr.", "Dr.", "e.g.", "J.", "Sept", "5,", "2013",
    "establishment", "Title Case Heading", "Expert Group", ".", ". ", "? ", "! ", "…", ":", ";", ",", " ", "  ",
    "\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", "\r", "\u00a0", "\u2003", "\u202f", "\u3000", "•", "• ",
    "  • ", "- ", "* ", "1. ", "(a) ", "a) ", "# ", "## ", "===", "---", "```", "“", "”", "‘", "’", "\"", "'",
    "(", ")", "😀", "👍🏽", "e\u0301", "\u0301", "\u200b", "\ufeff", "\x00", "\x07", "\x0b", "\x0c", "\x1c",
    "\x85", "\u2028", "\u2029", "ß", "İ", "ﬁ", "中文", "العربية", "\U0001f600\u200d",
]
pieces = st.one_of(st.sampled_from(PIECES), st.text(max_size=6))
documents = st.lists(pieces, max_size=120).map("".join)


def _doc(text: str, fmt: str) -> Document:
    headings = markdown_headings(text) if fmt == "md" and text.strip() else ()
    return Document(f"doc.{fmt}", text, fmt, sha256_hex(text), headings)


def _heading_spans(doc: Document) -> list[Span]:
    heads = doc.headings if doc.format in ("md", "html") else doc.headings or detect_headings(doc.text)
    return [Span(h.start, h.end) for h in heads]


def _bullet_markers(text: str) -> set[int]:
    """Offsets of bullet markers that start a (whitespace-trimmed) line."""
    out: set[int] = set()
    pos = 0
    while pos <= len(text):
        nl = text.find("\n", pos)
        stop = len(text) if nl < 0 else nl
        a, b = pos, stop
        while a < b and is_space(text[a]):
            a += 1
        while b > a and is_space(text[b - 1]):
            b -= 1
        m = BULLET_RE.match(text, a, b) if a < b else None
        if m and m.end() < b:
            out.update(range(a, m.end()))
        pos = stop + 1
    return out


def _check_offsets(doc: Document, chunks: list[Chunk]) -> None:
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert 0 <= c.start < c.end <= len(doc.text)
        assert not is_space(c.text[0]) and not is_space(c.text[-1])
        assert c.sentences and c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        for s in c.sentences:
            assert c.start <= s.start < s.end <= c.end


@PROFILE
@given(text=documents, fmt=st.sampled_from(["txt", "md"]), chunk_chars=st.integers(50, 400),
       overlap=st.integers(0, 2))
@example(text="Title\r\n\r\n• one\r\n• two\r\n\r\nBody text.\r\n", fmt="txt", chunk_chars=50, overlap=1)
@example(text="# H\n\n\u00a0\u00a0• x\n\n" + "y" * 300, fmt="md", chunk_chars=50, overlap=2)
def test_chunk_offsets_invariant(text: str, fmt: str, chunk_chars: int, overlap: int) -> None:
    doc = _doc(text, fmt)
    _check_offsets(doc, chunk_document(doc, chunk_chars, overlap))


@PROFILE
@given(text=documents, fmt=st.sampled_from(["txt", "md"]), chunk_chars=st.integers(50, 400))
@example(text="Title Line\n\nSome words. More words.\n\n  • item one\n  - item two\n", fmt="txt", chunk_chars=50)
@example(text="##  \n\n1. x\n", fmt="md", chunk_chars=50)
def test_chunks_cover_every_character_once(text: str, fmt: str, chunk_chars: int) -> None:
    doc = _doc(text, fmt)
    chunks = chunk_document(doc, chunk_chars, 0)
    _check_offsets(doc, chunks)
    for a, b in pairwise(chunks):
        assert a.end <= b.start, "chunks are in document order and do not overlap"
    for c in chunks:
        assert len(c.text) <= chunk_chars
    count = [0] * len(text)
    for c in chunks:
        for i in range(c.start, c.end):
            count[i] += 1
    in_heading = {i for h in _heading_spans(doc) for i in range(h.start, h.end)}
    markers = _bullet_markers(text)
    for i, ch in enumerate(text):
        if is_space(ch):
            continue
        if i in in_heading:
            assert count[i] == 0, f"heading character {ch!r} at {i} is in a chunk"
        elif i in markers:
            assert count[i] <= 1
        else:
            assert count[i] == 1, f"character {ch!r} at {i} is in {count[i]} chunks"


@PROFILE
@given(text=documents, max_len=st.integers(5, 300), window=st.tuples(st.integers(0, 400), st.integers(0, 400)))
@example(text="Mr. Smith went.\r\nDr. Who came.", max_len=5, window=(0, 400))
def test_sentence_spans_within_bounds_sorted_disjoint_trimmed(text: str, max_len: int,
                                                              window: tuple[int, int]) -> None:
    start, end = sorted(min(w, len(text)) for w in window)
    for lo, hi in ((0, len(text)), (start, end)):
        spans = split_sentences(text, lo, hi, max_len=max_len)
        prev = lo
        for s in spans:
            assert prev <= s.start < s.end <= hi
            assert len(s) <= max_len
            assert not is_space(text[s.start]) and not is_space(text[s.end - 1])
            prev = s.end
        # Nothing is lost but whitespace and bullet markers.
        covered = {i for s in spans for i in range(s.start, s.end)}
        markers = {lo + i for i in _bullet_markers(text[lo:hi])}
        for i in range(lo, hi):
            if not is_space(text[i]) and i not in covered:
                assert i in markers, f"character {text[i]!r} at {i} is in no sentence"


TAGS = ["<h1>", "</h1>", "<h2>", "</h2>", "<p>", "</p>", "<ul>", "<li>", "</li>", "</ul>", "<br>", "<pre>", "</pre>",
        "<script>", "</script>", "&amp;", "&nbsp;", "<div hidden>", "</div>", "<td>", "<b>", "</b>"]
html_documents = st.lists(st.one_of(pieces, st.sampled_from(TAGS)), max_size=80).map("".join)


@PROFILE
@given(html=html_documents, chunk_chars=st.integers(50, 400), overlap=st.integers(0, 1))
@example(html="<h1>Title</h1><p>The list:</p><ul><li>one</li><li>two</li></ul><h2>Next</h2>x", chunk_chars=50,
         overlap=0)
def test_html_chunks_keep_offsets_and_stay_inside_sections(html: str, chunk_chars: int, overlap: int) -> None:
    text, headings = html_to_text(html)
    doc = Document("doc.html", text, "html", sha256_hex(html), headings)
    chunks = chunk_document(doc, chunk_chars, overlap)
    _check_offsets(doc, chunks)
    for c in chunks:
        for h in headings:
            assert c.end <= h.start or c.start >= h.end, "a chunk crosses a heading"
