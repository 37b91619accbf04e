"""A BM25 (Okapi) index over term postings, stored as plain numpy arrays and JSON.

Scores are precomputed per (term, chunk) at build time, so a query is one
weighted ``bincount`` over the postings of its terms. Nothing is pickled.
"""

from __future__ import annotations

import json
import zipfile
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from citeqa.errors import IndexCorruptError
from citeqa.ingest.terms import terms

_SLICE = 1 << 22  # postings per step when computing weights


class BM25:
    """Okapi BM25 with ``k1`` and ``b``; rows are chunk positions in index order.

    Rows listed as dead (chunks removed by an incremental update) hold no
    postings and count neither in the document frequencies nor in the average
    length, so an updated index scores every live chunk as a fresh build would.
    """

    def __init__(
        self,
        vocab: dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        idf: np.ndarray,
        n_docs: int,
        tf: np.ndarray | None = None,
        lengths: np.ndarray | None = None,
        n_live: int | None = None,
    ) -> None:
        self.vocab = vocab
        self.indptr = indptr
        self.indices = indices
        self.weights = weights
        self.idf = idf
        self.n_docs = n_docs  # rows, dead ones included
        self.tf = tf
        self.lengths = lengths
        self.n_live = n_docs if n_live is None else n_live

    @classmethod
    def build(cls, texts: Iterable[str]) -> BM25:
        """Index the texts (each one a chunk's embed text).

        One pass over the texts collects (term id, tf) per chunk in flat arrays; the
        postings are then sorted into place with numpy, so memory stays a few
        bytes per posting (a million chunks fit in a few hundred MB).
        """
        vocab: dict[str, int] = {}
        term, doc, tf, length = _tokenise(texts, vocab, 0)
        return cls._from_postings(vocab, term, doc, tf, length, np.ones(len(length), dtype=bool))

    def updated(self, dead: Sequence[int], texts: Iterable[str]) -> BM25:
        """A new index: rows ``dead`` emptied, ``texts`` appended as new rows (tokenising only those)."""
        if self.tf is None or self.lengths is None:
            raise ValueError("this BM25 index has no term frequencies to update from")
        vocab = dict(self.vocab)
        old_term = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int32), np.diff(self.indptr))
        live = self.lengths >= 0  # rows already dead hold -1
        live[np.asarray(list(dead), dtype=np.int64)] = False
        kept = live[self.indices]
        term, doc, tf, length = _tokenise(texts, vocab, self.n_docs)
        return self._from_postings(
            vocab,
            np.concatenate([old_term[kept], term]),
            np.concatenate([self.indices[kept], doc]),
            np.concatenate([self.tf[kept], tf]),
            np.concatenate([self.lengths, length]),
            np.concatenate([live, np.ones(len(length), dtype=bool)]),
        )

    @classmethod
    def _from_postings(
        cls, vocab: dict[str, int], term: np.ndarray, doc: np.ndarray, tf_all: np.ndarray, length: np.ndarray,
        live: np.ndarray, k1: float = 1.2, b: float = 0.75,
    ) -> BM25:
        """Sort postings (given chunk by chunk, or term-major then appended rows) into term-major CSR order."""
        df = np.bincount(term, minlength=len(vocab))
        if len(df) and not df.all():  # terms left only in dead rows leave the vocabulary
            new_id = np.cumsum(df > 0) - 1
            vocab = {t: int(new_id[i]) for t, i in vocab.items() if df[i]}
            term, df = new_id[term].astype(np.int32), df[df > 0]
        n, n_live = len(length), int(live.sum())
        lens = np.where(live, length, 0).astype(np.float64)
        avg = float(lens[live].mean()) if n_live and lens[live].mean() > 0 else 1.0
        order = np.argsort(term, kind="stable")  # by term, then by chunk
        df = df.astype(np.float64)
        idf = np.log1p((n_live - df + 0.5) / (df + 0.5)).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(df.astype(np.int64))
        docs = np.empty(len(order), dtype=np.int32)
        tfs = np.empty(len(order), dtype=np.int32)
        weights = np.empty(len(order), dtype=np.float32)
        for a in range(0, len(order), _SLICE):  # float64 temporaries a slice at a time
            o = order[a : a + _SLICE]
            d, tf = doc[o], tf_all[o]
            docs[a : a + len(o)], tfs[a : a + len(o)] = d, tf
            tf = tf.astype(np.float64)
            norm = tf + k1 * (1 - b + b * lens[d] / avg)
            weights[a : a + len(o)] = idf[term[o]] * tf * (k1 + 1) / norm
        stored_len = np.where(live, length, -1).astype(np.int32)
        return cls(vocab, indptr, docs, weights, idf, n, tfs, stored_len, n_live)

    def term_idf(self, term: str) -> float:
        """IDF of a stemmed term; unseen terms get the highest IDF."""
        tid = self.vocab.get(term)
        if tid is None:
            return float(np.log1p((self.n_live + 0.5) / 0.5))
        return float(self.idf[tid])

    def weight(self, term: str) -> float:
        """A smoothed IDF for matching terms, ``log(1 + (N + 1) / (df + 1))``.

        Unlike BM25's IDF it stays well above zero for terms found in every
        chunk, which matters in small corpora.
        """
        tid = self.vocab.get(term)
        df = 0 if tid is None else int(self.indptr[tid + 1] - self.indptr[tid])
        return float(np.log1p((self.n_live + 1) / (df + 1)))

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query terms (repeats count)."""
        ids = [self.vocab[t] for t in query_terms if t in self.vocab]
        if not ids or self.n_live == 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        tids, reps = np.unique(np.array(ids, dtype=np.int64), return_counts=True)
        parts_i = [self.indices[self.indptr[t] : self.indptr[t + 1]] for t in tids]
        parts_w = [self.weights[self.indptr[t] : self.indptr[t + 1]] * r for t, r in zip(tids, reps)]
        idx = np.concatenate(parts_i)
        w = np.concatenate(parts_w)
        return np.bincount(idx, weights=w, minlength=self.n_docs).astype(np.float32)

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best ``(row, score)`` pairs with a positive score, best first."""
        s = self.scores(terms(query))
        k = min(k, self.n_docs)
        if k <= 0:
            return []
        cand = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
        cand = cand[np.argsort(-s[cand], kind="stable")]
        return [(int(i), float(s[i])) for i in cand if s[i] > 0]

    def save(self, folder: Path) -> None:
        np.savez(
            folder / "bm25.npz",
            indptr=self.indptr,
            indices=self.indices,
            weights=self.weights,
            idf=self.idf,
            n_docs=np.array([self.n_docs], dtype=np.int64),
            tf=self.tf if self.tf is not None else np.zeros(0, dtype=np.int32),
            lengths=self.lengths if self.lengths is not None else np.zeros(0, dtype=np.int32),
            n_live=np.array([self.n_live], dtype=np.int64),
        )
        terms_by_id = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "bm25_vocab.json").write_text(json.dumps(terms_by_id, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25:
        try:
            with np.load(folder / "bm25.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("indptr", "indices", "weights", "idf", "n_docs", "tf", "lengths", "n_live")}
            terms_by_id = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise IndexCorruptError(f"the BM25 index in {folder} is damaged ({exc}); run `citeqa index`") from exc
        vocab = {t: i for i, t in enumerate(terms_by_id)}
        n_docs = int(arrays["n_docs"][0])
        if (len(vocab) + 1 != len(arrays["indptr"]) or len(arrays["tf"]) != len(arrays["indices"])
                or len(arrays["lengths"]) != n_docs):
            raise IndexCorruptError(f"the BM25 index in {folder} is inconsistent; run `citeqa index`")
        return cls(vocab, arrays["indptr"], arrays["indices"], arrays["weights"], arrays["idf"], n_docs,
                   arrays["tf"], arrays["lengths"], int(arrays["n_live"][0]))


def build_shards(texts: Iterable[str], bounds: Sequence[tuple[int, int]], k1: float = 1.2, b: float = 0.75
                 ) -> tuple[list[BM25], dict[str, int], np.ndarray]:
    """One BM25 index per shard of rows ``[a, b)`` whose weights use corpus-wide statistics (document frequencies,
    chunk count, average length), so each chunk scores exactly as in one index of all of them: also the term
    order of a sum, since each shard numbers its terms in the corpus-wide order.

    Returns the shards, the corpus-wide vocabulary and document frequencies (for :meth:`BM25.weight`)."""
    vocab: dict[str, int] = {}
    term, doc, tf_all, length = _tokenise(texts, vocab, 0)
    n = len(length)
    df = np.bincount(term, minlength=len(vocab)).astype(np.int64)
    idf = np.log1p((n - df.astype(np.float64) + 0.5) / (df + 0.5)).astype(np.float32)
    lens = length.astype(np.float64)
    avg = float(lens.mean()) if n and lens.mean() > 0 else 1.0
    terms_by_id = sorted(vocab, key=vocab.__getitem__)
    shards = []
    for a, z in bounds:
        keep = (doc >= a) & (doc < z)
        t, d, tf = term[keep], doc[keep] - a, tf_all[keep]
        present = np.unique(t)
        local = np.full(len(vocab), -1, dtype=np.int64)
        local[present] = np.arange(len(present))
        order = np.argsort(local[t], kind="stable")  # by term (corpus-wide order), then by row
        t, d, tf = t[order], d[order], tf[order]
        counts = np.bincount(local[t], minlength=len(present))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        tf64 = tf.astype(np.float64)
        weights = (idf[t] * tf64 * (k1 + 1) / (tf64 + k1 * (1 - b + b * lens[d + a] / avg))).astype(np.float32)
        shard_vocab = {terms_by_id[g]: i for i, g in enumerate(present.tolist())}
        shards.append(BM25(shard_vocab, indptr, d.astype(np.int32), weights, idf[present], z - a,
                           tf.astype(np.int32), length[a:z].astype(np.int32), z - a))
    return shards, vocab, df


def _tokenise(
    texts: Iterable[str], vocab: dict[str, int], first_row: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Postings ``(term id, row, tf)`` chunk by chunk and each chunk's length; new terms join ``vocab``."""
    tids, tfs, sizes, lengths = array("i"), array("i"), array("i"), array("i")
    for text in texts:
        c = Counter(terms(text))
        tids.extend([vocab.setdefault(t, len(vocab)) for t in c])
        tfs.extend(c.values())
        sizes.append(len(c))
        lengths.append(c.total())
    n = len(sizes)
    rows = np.repeat(np.arange(first_row, first_row + n, dtype=np.int32), np.frombuffer(sizes, dtype=np.int32))
    return (np.frombuffer(tids, dtype=np.int32), rows, np.frombuffer(tfs, dtype=np.int32),
            np.frombuffer(lengths, dtype=np.int32))
