"""The data that crosses module boundaries: one frozen dataclass per concept.

Every span is a half-open ``[start, end)`` range of character offsets into the
text it names (``Document.text`` for chunks, sentences and citations; the answer
string for ``Answer.answer_span``).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any


def sha256_hex(data: str | bytes) -> str:
    """Return the hex sha256 of ``data`` (strings are UTF-8 encoded)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Span:
    """A half-open character range ``[start, end)``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Heading:
    """A heading found in a document: its title text and where it stands."""

    title: str
    start: int
    end: int
    level: int = 1


@dataclass(frozen=True)
class Document:
    """One source file, its text exactly as extracted, and its headings.

    ``path`` is relative to the corpus folder, with ``/`` separators (undecodable
    bytes of a file name written as ``\\xNN``). ``sha256`` hashes the file's bytes;
    ``id`` hashes the extracted text. ``pages`` holds the offset where each page
    starts in ``text`` (PDF only; empty for formats without pages).
    """

    path: str
    text: str
    format: str
    sha256: str
    headings: tuple[Heading, ...] = ()
    pages: tuple[int, ...] = ()

    @property
    def id(self) -> str:
        return sha256_hex(self.text)[:16]

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding ``text[offset]`` (None without pages)."""
        return page_at(self.pages, offset)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        """The document ``dataclasses.asdict`` gave (as it comes back through JSON)."""
        return cls(**{**d, "headings": tuple(Heading(**h) for h in d["headings"]), "pages": tuple(d["pages"])})


def page_at(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page whose range ``[pages[i], pages[i + 1])`` holds ``offset`` (None when ``pages`` is empty)."""
    return max(1, bisect_right(pages, offset)) if pages else None


TABLE_CELL_SEP = " | "  # between the cells of a table row, one row a line (ingest/docx.py writes tables so)


@dataclass(frozen=True)
class Chunk:
    """A contiguous piece of a document: ``document.text[start:end] == text``.

    ``sentences`` are the chunk's sentence spans, in document offsets.
    ``id`` derives from the document path and the chunk's content and position,
    so it survives a rebuild of an unchanged document.
    """

    doc: str
    section: str
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...] = ()

    @property
    def id(self) -> str:
        return sha256_hex(f"{self.doc}\0{self.start}\0{self.text}")[:16]

    @property
    def embed_text(self) -> str:
        """What gets embedded and BM25-indexed: the section title, then the text."""
        return f"{self.section}\n{self.text}" if self.section else self.text

    def sentence(self, i: int) -> str:
        """The text of sentence ``i``."""
        s = self.sentences[i]
        return self.text[s.start - self.start : s.end - self.start]

    def next_line(self, i: int) -> bool:
        """Whether sentence ``i + 1`` starts on the line right under sentence ``i`` (no blank line between)."""
        return i + 1 < len(self.sentences) and self.text[
            self.sentences[i].end - self.start : self.sentences[i + 1].start - self.start].count("\n") == 1

    def table_row(self, i: int) -> bool:
        """Whether sentence ``i`` is a row of a table (its cells joined by :data:`TABLE_CELL_SEP`)."""
        return TABLE_CELL_SEP in self.sentence(i)

    def lead_in(self, i: int) -> int | None:
        """For a list item, the index of the lead-in sentence (ending with a colon) above its list; for a table
        row, the first row of its table in this chunk (its header)."""
        if self.table_row(i):
            j = i
            while j > 0 and self.table_row(j - 1) and self.next_line(j - 1):
                j -= 1
            return j if j < i else None
        for j in range(i - 1, -1, -1):
            if self.sentence(j).endswith(":"):
                return j
            if self.text[self.sentences[j].end - self.start : self.sentences[j + 1].start - self.start].count("\n") < 1:
                return None
        return None

    def sentence_embed_text(self, i: int) -> str:
        """What gets embedded for sentence ``i``: its section title and, for a list item,
        the lead-in line above the list give it the context a reader would have."""
        j = self.lead_in(i)
        parts = [p for p in (self.section, "" if j is None else self.sentence(j), self.sentence(i)) if p]
        return " — ".join(parts)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its scores (``score`` is the fused one)."""

    rank: int
    chunk: Chunk
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    page: int | None = None  # the page of the chunk's start (PDF only)


ANSWERED, TENTATIVE, ABSTAINED = "answered", "tentative", "abstained"


@dataclass(frozen=True)
class Citation:
    """A verbatim quote: ``document.text[start:end] == quote``; ``page``: the page of its start (PDF only)."""

    n: int
    doc: str
    section: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None


@dataclass(frozen=True)
class Answer:
    """What the system says to a question; ``answer`` is made only of cited quotes."""

    question: str
    answer: str | None
    abstained: bool
    confidence: float
    answer_span: Span | None = None
    citations: tuple[Citation, ...] = ()
    passages: tuple[Passage, ...] = ()
    features: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    follow_up_of: tuple[str, ...] = ()  # earlier questions it was read with (a follow-up), oldest first

    @property
    def status(self) -> str:
        """``"answered"``; ``"tentative"`` (below the threshold, above the out-of-corpus floor: the best
        sentence, cited, but not vouched for, so ``abstained`` is true); or ``"abstained"`` (no answer)."""
        if not self.abstained:
            return ANSWERED
        return TENTATIVE if self.answer is not None else ABSTAINED

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract shared by ``citeqa ask --json``, the API and the UI."""
        return {
            "question": self.question,
            "answer": self.answer,
            "status": self.status,
            "abstained": self.abstained,
            "confidence": round(float(self.confidence), 4),
            "answer_span": (
                {"start": self.answer_span.start, "end": self.answer_span.end}
                if self.answer_span
                else None
            ),
            "citations": [
                {**asdict(c), "score": round(float(c.score), 4)} for c in self.citations
            ],
            "passages": [passage_dict(p) for p in self.passages],
            "follow_up_of": list(self.follow_up_of),
        }


def passage_dict(p: Passage) -> dict[str, Any]:
    """A passage in the JSON contract (``passages`` of an answer, results of a search)."""
    return {
        "rank": p.rank,
        "chunk_id": p.chunk.id,
        "doc": p.chunk.doc,
        "section": p.chunk.section,
        "start": p.chunk.start,
        "end": p.chunk.end,
        "text": p.chunk.text,
        "score": round(float(p.score), 6),
        "dense_score": _round(p.dense_score),
        "bm25_score": _round(p.bm25_score),
        "page": p.page,
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)
