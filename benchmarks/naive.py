"""The naive baseline citeqa is measured against: fixed 500-character windows, dense search, top window.

Each document is cut into windows of at most 500 characters (at the last
whitespace before the limit where there is one), every window keeps its
character offsets, the windows are embedded with the same embedder as citeqa
and searched with a FAISS ``IndexFlatIP``. The answer is the top window; it
never abstains. The one-sentence variant answers with the sentence of the top
window whose vector is closest to the question's. The windows' sentences
(:func:`citeqa.ingest.sentences.split_sentences`) are embedded with the index, as citeqa
embeds its sentences when it indexes; ``sentences_at_query_time=True`` embeds
the top window's sentences for each question instead (slower).

Answers come back as :class:`citeqa.models.Answer` objects (the top five
windows as passages, the quote as a citation), so the scorers of
:mod:`citeqa.eval.evaluate` and :mod:`citeqa.eval.squad` apply to them unchanged.

    from naive import NaiveIndex
    idx = NaiveIndex(docs, embedder)          # docs: [(path, text), ...]
    window, sentence = idx.ask("Who ...?")
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from citeqa.encode.embedder import Embedder
from citeqa.ingest.sentences import is_space, split_sentences
from citeqa.models import Answer, Chunk, Citation, Passage, Span

WINDOW_CHARS = 500
TOP_K = 5


def windows(text: str, size: int = WINDOW_CHARS) -> list[Span]:
    """``[start, end)`` spans of at most ``size`` characters that tile ``text``, whitespace trimmed.

    A window ends at the last whitespace before the limit when there is one
    (a single word longer than ``size`` is cut at the limit).
    """
    out: list[Span] = []
    n, pos = len(text), 0
    while pos < n:
        while pos < n and is_space(text[pos]):
            pos += 1
        if pos >= n:
            break
        end = min(pos + size, n)
        if end < n and not is_space(text[end]):
            cut = end
            while cut > pos and not is_space(text[cut - 1]):
                cut -= 1
            if cut > pos:
                end = cut
        stop = end
        while stop > pos and is_space(text[stop - 1]):
            stop -= 1
        out.append(Span(pos, stop))
        pos = end
    return out


class NaiveIndex:
    """Windows of a set of documents in a FAISS inner-product index (vectors are normalised)."""

    def __init__(
        self,
        docs: Sequence[tuple[str, str]],
        embedder: Embedder,
        size: int = WINDOW_CHARS,
        sentences_at_query_time: bool = False,
    ) -> None:
        self.embedder = embedder
        self.texts = {path: text for path, text in docs}
        self.chunks: list[Chunk] = []
        for path, text in docs:
            for w in windows(text, size):
                spans = split_sentences(text, w.start, w.end) or [w]
                self.chunks.append(Chunk(path, "", w.start, w.end, text[w.start : w.end], tuple(spans)))
        bulk = getattr(embedder, "embed_many", embedder.embed)
        vecs = np.ascontiguousarray(bulk([c.text for c in self.chunks]), dtype=np.float32)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs)
        self.sentence_vectors: dict[tuple[str, int], np.ndarray] | None = None
        if not sentences_at_query_time:
            sents = bulk([c.sentence(i) for c in self.chunks for i in range(len(c.sentences))])
            bounds = np.cumsum([0] + [len(c.sentences) for c in self.chunks])
            self.sentence_vectors = {
                (c.doc, c.start): np.asarray(sents[bounds[i] : bounds[i + 1]], dtype=np.float32)
                for i, c in enumerate(self.chunks)
            }

    def search(self, qvec: np.ndarray, k: int = TOP_K) -> list[Passage]:
        """The ``k`` windows with the highest cosine to ``qvec``, best first."""
        scores, rows = self.index.search(np.asarray(qvec, dtype=np.float32).reshape(1, -1), min(k, len(self.chunks)))
        return [
            Passage(rank, self.chunks[int(r)], float(s), dense_score=float(s))
            for rank, (r, s) in enumerate(zip(rows[0], scores[0]), start=1)
            if r >= 0
        ]

    def answer_window(self, question: str, qvec: np.ndarray, k: int = TOP_K) -> Answer:
        """The top window as the answer (never abstains)."""
        passages = tuple(self.search(qvec, k))
        top = passages[0].chunk
        cite = Citation(1, top.doc, "", top.start, top.end, top.text, passages[0].score)
        return Answer(question, top.text, False, passages[0].score, None, (cite,), passages)

    def answer_sentence(self, question: str, qvec: np.ndarray, passages: Sequence[Passage]) -> Answer:
        """The sentence of the top window closest to the question."""
        top = passages[0].chunk
        if self.sentence_vectors is not None:
            vecs = self.sentence_vectors[top.doc, top.start]
        else:
            vecs = self.embedder.embed([top.sentence(i) for i in range(len(top.sentences))])
        cos = vecs @ np.asarray(qvec, dtype=np.float32)
        best = int(np.argmax(cos))
        s = top.sentences[best]
        quote = top.sentence(best)
        cite = Citation(1, top.doc, "", s.start, s.end, quote, float(cos[best]))
        return Answer(question, quote, False, float(cos[best]), None, (cite,), tuple(passages))

    def ask(self, question: str, qvec: np.ndarray | None = None) -> tuple[Answer, Answer]:
        """``(window answer, one-sentence answer)`` for ``question``."""
        if qvec is None:
            qvec = self.embedder.embed([question])[0]
        window = self.answer_window(question, qvec)
        return window, self.answer_sentence(question, qvec, window.passages)

    def verbatim(self, ans: Answer) -> bool:
        """Every citation is the exact slice of its document it claims to be."""
        return all(self.texts[c.doc][c.start : c.end] == c.quote for c in ans.citations)
