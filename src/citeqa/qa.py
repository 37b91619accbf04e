"""The pipeline behind the CLI and the UI: index, retrieve, extract, cite."""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace

from citeqa.answer.calibration import Calibration, calibration_path, load_calibration
from citeqa.answer.extract import extract_answer
from citeqa.answer.followup import contextual_query
from citeqa.answer.retrieve import MODES, retrieve
from citeqa.config import Settings
from citeqa.encode.embedder import Embedder, embed_query, make_embedder
from citeqa.errors import CiteqaError, IndexBusyError, IndexMissingError, IndexReadOnlyError, InputError
from citeqa.index.build import BuildReport, build_index
from citeqa.index.layout import Progress, current_folder, stale_files
from citeqa.index.live import Index, load_index
from citeqa.ingest.terms import terms
from citeqa.models import Answer, Document, Passage, page_at

MAX_QUESTION_CHARS = 2000
RECHECK_SECONDS = 1.0  # how often a long-lived QA looks for an index rebuilt by another process
log = logging.getLogger("citeqa.qa")
def clean_text(text: str) -> str:
    """Control and format characters as spaces, lone surrogates (undecodable bytes in argv) as U+FFFD, runs of
    white space as one space."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in text)
    return " ".join(re.sub("[\ud800-\udfff]", "\ufffd", text).split())


def refuse_lone_surrogates(what: str, *texts: str) -> None:
    """Raise :class:`InputError` for text holding a lone surrogate: a JSON client can send one (``"\\ud800"``),
    but it is not Unicode text, so nothing can encode it back (an API echoing it fails, an MCP reply never goes)."""
    if has_lone_surrogate(list(texts)):
        raise InputError(f"{what} holds a lone surrogate (an unpaired \\ud800-\\udfff escape): send valid "
                         "Unicode text")


def has_lone_surrogate(value: object) -> bool:
    """Whether a string, or any string in a (nested) list or dict, holds a lone surrogate."""
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    return isinstance(value, list) and any(has_lone_surrogate(v) for v in value)


def clean_question(question: str) -> str:
    """Normalise a user question, or raise :class:`InputError` saying what is wrong with it."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    text = clean_text(question)
    if not text:
        raise InputError("the question is empty: type a question about the documents")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}")
    if not any(ch.isalnum() for ch in text):
        raise InputError("the question has no words in it: type a question about the documents")
    return text


# A question that leans on the conversation is read alone too; that reading wins only when it is this much more
# confident (alone, "When was it set up?" can match any passage that says "set up").
FOLLOW_UP_MARGIN = 0.1


class QA:
    """Ask questions of an indexed corpus; the index and model load on first use."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, calibration: Calibration | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(settings.model)
        self.calibration = calibration or load_calibration(calibration_path(settings.model))
        self._index: Index | None = None
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        self._checked = time.monotonic()

    def build(self, progress: Progress | None = None) -> BuildReport:
        """Build or refresh the index, then serve from the new one."""
        report = build_index(self.settings, self.embedder, progress)
        if not report.up_to_date or self._index is None:
            self.reload()
        return report

    def build_or_serve_current(self, progress: Progress | None = None) -> tuple[BuildReport | None, str | None]:
        """For servers: build or refresh the index, or, when that cannot be done now (another process is
        building it, or its folder is read-only) but a live index exists, use that one. Returns the report, or
        ``None`` and why the current index is served as it is."""
        try:
            return self.build(progress), None
        except (IndexBusyError, IndexReadOnlyError) as exc:
            if current_folder(self.settings.index_dir) is None:
                raise
            self.reload()
            return None, f"{exc}; serving the current index (it swaps in a rebuild when one completes)"

    def ensure_index(self, progress: Progress | None = None) -> BuildReport | None:
        """Build the index if there is none; returns the report when it built."""
        if current_folder(self.settings.index_dir) is None:
            return self.build(progress)
        return None

    def reload(self) -> Index:
        """Load the live index (again) and swap it in."""
        fresh = load_index(self.settings)
        with self._lock:
            self._index = fresh
        # The old index is not closed here: asks in other threads may still be reading it (closing its
        # SQLite connection under them fails them, or crashes the process). It closes when the last one drops it.
        return fresh

    @property
    def index(self) -> Index:
        """The loaded index; swapped for the live one when another process (``citeqa index``) rebuilt it."""
        idx = self._index
        if idx is None:
            return self.reload()
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS and self._reloading.acquire(blocking=False):
            try:  # one thread looks (at most once a second); the others go on with the loaded index meanwhile
                self._checked = now
                live = current_folder(self.settings.index_dir)
                if live is not None and live != idx.folder:
                    idx = self.reload()
            except CiteqaError as exc:  # a new index that does not load: keep answering from the loaded one
                log.warning("keeping the loaded index; the new one in %s does not load: %s", self.settings.index_dir,
                            exc)
            finally:
                self._reloading.release()
        return idx

    def stale_files(self) -> list[str]:
        """Corpus files changed since the live index was built."""
        return stale_files(self.index.manifest, self.settings.corpus_dir)

    def options(
        self, k: int | None = None, mode: str | None = None, min_confidence: float | None = None
    ) -> tuple[int, str, float | None]:
        """``(k, mode, threshold)`` with the settings' defaults filled in, or :class:`InputError`."""
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        k = self.settings.top_k if k is None else k
        if not 1 <= k <= 100:
            raise InputError("the number of passages must be between 1 and 100")
        threshold = self.settings.min_confidence if min_confidence is None else min_confidence
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError("--min-confidence must be between 0 and 1")
        return k, mode, threshold

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> tuple[Passage, ...]:
        """The ``k`` best passages for ``query`` (no answer extracted), each with its page where it has one."""
        query = clean_question(query)
        k, mode, _ = self.options(k, mode, None)
        index = self.index
        if index.store.n_chunks == 0:
            raise IndexMissingError("the index holds no text: add documents to the corpus and run `citeqa index`")
        qvec, qtokens = embed_query(self.embedder, query)
        got = retrieve(index, query, qvec, k, mode, self.settings.rrf_k, index.tokens.project(qtokens))
        pages = index.store.pages({p.chunk.doc for p in got.passages})
        return tuple(replace(p, page=page_at(pages.get(p.chunk.doc, ()), p.chunk.start)) for p in got.passages)

    def ask(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        min_confidence: float | None = None,
        history: Sequence[str] = (),
    ) -> Answer:
        """Answer one question; ``history`` holds the earlier questions of a conversation."""
        question = clean_question(question)
        history = tuple(h for h in (clean_text(str(x)) for x in history) if h)
        k, mode, threshold = self.options(k, mode, min_confidence)
        index = self.index
        if index.store.n_chunks == 0:
            raise IndexMissingError("the index holds no text: add documents to the corpus and run `citeqa index`")
        query, earlier = contextual_query(question, history)
        answer = self._read(index, question, query, k, mode, threshold)
        if earlier:  # a follow-up: also read it alone, and keep the reading the answerer trusts clearly more
            alone = self._read(index, question, question, k, mode, threshold)
            better = alone.confidence > answer.confidence + FOLLOW_UP_MARGIN
            answer = alone if better else replace(answer, follow_up_of=earlier)
        return answer

    def _read(self, index: Index, question: str, query: str, k: int, mode: str, threshold: float | None) -> Answer:
        """The answer to ``question`` from the passages ``query`` retrieves in ``index`` (one index per ask: a
        rebuild swapped in between the two readings of a follow-up would mix them)."""
        qvec, qtokens = embed_query(self.embedder, query)
        qtokens = index.tokens.project(qtokens)
        got = retrieve(index, query, qvec, k, mode, self.settings.rrf_k, qtokens)
        idf = {t: index.bm25.weight(t) for t in set(terms(query))}
        answer = extract_answer(query, qvec, got.passages, got.sentence_vectors, idf, self.calibration, threshold,
                                got.sentence_tokens, qtokens)
        pages = index.store.pages({p.chunk.doc for p in answer.passages})
        citations = tuple(replace(c, page=page_at(pages.get(c.doc, ()), c.start)) for c in answer.citations)
        passages = tuple(replace(p, page=page_at(pages.get(p.chunk.doc, ()), p.chunk.start)) for p in answer.passages)
        return Answer(question, answer.answer, answer.abstained, answer.confidence, answer.answer_span,
                      citations, passages, answer.features)

    def ask_many(self, questions: Iterable[str], **kwargs: object) -> Iterable[Answer]:
        for q in questions:
            yield self.ask(q, **kwargs)  # type: ignore[arg-type]

    def document(self, path: str) -> Document | None:
        """The indexed text of one document (for showing a citation in context)."""
        return self.index.store.document(path)

    def sections(self, path: str) -> list[str]:
        """The section titles of one indexed document, in order (empty for a document without headings)."""
        return self.index.store.sections(path)

    def documents(self) -> list[tuple[str, str, int]]:
        """``(path, format, characters)`` of each indexed document."""
        return self.index.store.documents()
