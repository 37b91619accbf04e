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
from citeqa.text import terms

_SLICE = 1 << 22  # postings per step when computing weights


class BM25:
    """Okapi BM25 with ``k1`` and ``b``; rows are chunks in index order."""

    def __init__(
        self,
        vocab: dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        weights: np.ndarray,
        idf: np.ndarray,
        n_docs: int,
    ) -> None:
        self.vocab = vocab
        self.indptr = indptr
        self.indices = indices
        self.weights = weights
        self.idf = idf
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: Iterable[str], k1: float = 1.2, b: float = 0.75) -> BM25:
        """Index the texts (each one a chunk's embed text).

        One pass over the texts collects (term id, tf) per chunk in flat arrays; the
        postings are then sorted into place with numpy, so memory stays a few
        bytes per posting (a million chunks fit in a few hundred MB).
        """
        vocab: dict[str, int] = {}
        tids, tfs, sizes, lengths = array("i"), array("i"), array("i"), array("i")
        for text in texts:
            c = Counter(terms(text))
            tids.extend([vocab.setdefault(t, len(vocab)) for t in c])
            tfs.extend(c.values())
            sizes.append(len(c))
            lengths.append(c.total())
        n = len(sizes)
        length = np.frombuffer(lengths, dtype=np.int32).astype(np.float64)
        avg = float(length.mean()) if n and length.mean() > 0 else 1.0
        term, tf_all = np.frombuffer(tids, dtype=np.int32), np.frombuffer(tfs, dtype=np.int32)
        doc_of = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(sizes, dtype=np.int32))
        order = np.argsort(term, kind="stable")  # by term, then by chunk
        df = np.bincount(term, minlength=len(vocab)).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(df.astype(np.int64))
        docs = np.empty(len(order), dtype=np.int32)
        weights = np.empty(len(order), dtype=np.float32)
        for a in range(0, len(order), _SLICE):  # float64 temporaries a slice at a time
            o = order[a : a + _SLICE]
            d, tf = doc_of[o], tf_all[o].astype(np.float64)
            docs[a : a + len(o)] = d
            norm = tf + k1 * (1 - b + b * length[d] / avg)
            weights[a : a + len(o)] = idf[term[o]] * tf * (k1 + 1) / norm
        return cls(vocab, indptr, docs, weights, idf, n)

    def term_idf(self, term: str) -> float:
        """IDF of a stemmed term; unseen terms get the highest IDF."""
        tid = self.vocab.get(term)
        if tid is None:
            return float(np.log1p((self.n_docs + 0.5) / 0.5))
        return float(self.idf[tid])

    def weight(self, term: str) -> float:
        """A smoothed IDF for matching terms, ``log(1 + (N + 1) / (df + 1))``.

        Unlike BM25's IDF it stays well above zero for terms found in every
        chunk, which matters in small corpora.
        """
        tid = self.vocab.get(term)
        df = 0 if tid is None else int(self.indptr[tid + 1] - self.indptr[tid])
        return float(np.log1p((self.n_docs + 1) / (df + 1)))

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk for the query terms (repeats count)."""
        ids = [self.vocab[t] for t in query_terms if t in self.vocab]
        if not ids or self.n_docs == 0:
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
        )
        terms_by_id = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "bm25_vocab.json").write_text(json.dumps(terms_by_id, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25:
        try:
            with np.load(folder / "bm25.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("indptr", "indices", "weights", "idf", "n_docs")}
            terms_by_id = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise IndexCorruptError(f"the BM25 index in {folder} is damaged ({exc}); run `citeqa index`") from exc
        vocab = {t: i for i, t in enumerate(terms_by_id)}
        if len(vocab) + 1 != len(arrays["indptr"]):
            raise IndexCorruptError(f"the BM25 index in {folder} is inconsistent; run `citeqa index`")
        return cls(
            vocab, arrays["indptr"], arrays["indices"], arrays["weights"], arrays["idf"], int(arrays["n_docs"][0])
        )
