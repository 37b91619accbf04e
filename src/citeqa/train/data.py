"""Training examples for the reading model, from open extractive QA sets in the SQuAD layout.

Every paragraph is split into sentences with citeqa's own splitter (the unit citeqa quotes), and every
question becomes a :class:`Triple`: the question, the sentence holding its answer, a sentence of the same
paragraph that does not (the closest in words to the question: "right paragraph, wrong sentence") and a
sentence of another paragraph of the same article that shares the most words with the question ("right
topic, not here"). The data holds no unanswerable questions; these negatives are how "not here" is taught.

Pure functions over parsed JSON, apart from :func:`read_sets` (which reads the gzip files). Items whose answer
position was inferred (``answer_start_inferred``) are dropped, as are answers that cross a sentence boundary.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from citeqa.ingest.sentences import split_sentences
from citeqa.ingest.terms import terms

# file → (domain, whether a held-out share of its articles is kept for validation)
FILES = {
    "squad_v1.1_train.json.gz": "squad",
    "squadshifts_new_wiki.json.gz": "new_wiki",
    "squadshifts_reddit.json.gz": "reddit",
    "squadshifts_amazon_reviews.json.gz": "amazon",
    "tydiqa_goldp_en_train.json.gz": "tydi",
    "tydiqa_goldp_en_dev.json.gz": "tydi_dev",
}
VALIDATION_SHARE = 0.1  # of the articles of each SQuAD-shifts domain and of SQuAD; all of TyDi dev


@dataclass(frozen=True)
class Triple:
    """One question with its answer sentence and two sentences that do not answer it (``""`` if none)."""

    domain: str
    article: str
    question: str
    positive: str
    same_paragraph: str
    same_article: str
    paragraph: str  # the whole paragraph, with the title as its section line
    title: str


@dataclass(frozen=True)
class Group:
    """A validation question with every sentence of its paragraph and which of them hold the answer."""

    domain: str
    question: str
    sentences: tuple[str, ...]
    gold: frozenset[int]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sets(folder: Path) -> dict[str, dict]:
    """Parsed JSON of every known file in ``folder`` (missing files are skipped), keyed by domain."""
    out = {}
    for name, domain in FILES.items():
        path = folder / name
        if path.is_file():
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                out[domain] = json.load(fh)
    return out


def held_out(domain: str, title: str) -> bool:
    """Whether an article (or, for a domain that is one article, a paragraph: ``title`` is then its text)
    belongs to the validation split (stable: a hash of the name)."""
    if domain == "tydi_dev":
        return True
    if domain == "tydi":
        return False
    digest = hashlib.sha256(f"{domain}/{title}".encode()).digest()
    return digest[0] / 256 < VALIDATION_SHARE


def _answer_sentence(spans: Sequence[tuple[int, int]], start: int, end: int) -> int | None:
    for i, (a, b) in enumerate(spans):
        if a <= start < b:
            return i if end <= b else None
    return None


def _title(raw: str) -> str:
    return raw.replace("_", " ").strip()


def article_items(domain: str, article: dict) -> Iterable[tuple[str, list[str], str, set[int]]]:
    """``(question, sentences, paragraph text, answer sentence indexes)`` for each usable question."""
    for para in article.get("paragraphs", []):
        ctx = para["context"]
        spans = [(s.start, s.end) for s in split_sentences(ctx)]
        sents = [ctx[a:b] for a, b in spans]
        if len(sents) < 1:
            continue
        for qa in para.get("qas", []):
            if qa.get("answer_start_inferred") == "heuristic" or not qa.get("answers"):
                continue
            gold = set()
            for ans in qa["answers"]:
                i = _answer_sentence(spans, ans["answer_start"], ans["answer_start"] + len(ans["text"]))
                if i is not None:
                    gold.add(i)
            if gold:
                yield qa["question"].strip(), sents, ctx, gold


def build(sets: dict[str, dict], seed: int = 0) -> tuple[list[Triple], list[Group]]:
    """Training triples and validation groups from parsed sets (deterministic for a seed)."""
    rng = random.Random(seed)
    train: list[Triple] = []
    val: list[Group] = []
    for domain, data in sets.items():
        for article in data.get("data", []):
            title = _title(article.get("title", ""))
            items = list(article_items(domain, article))
            if len(data["data"]) == 1:  # one article (Reddit): hold out paragraphs
                val.extend(Group(domain, q, tuple(s), frozenset(g)) for q, s, c, g in items
                           if held_out(domain, c) and len(s) > 1)
                items = [it for it in items if not held_out(domain, it[2])]
            elif held_out(domain, title):
                val.extend(Group(domain, q, tuple(s), frozenset(g)) for q, s, _, g in items if len(s) > 1)
                continue
            pool = list(dict.fromkeys((s, ctx) for _, sents, ctx, _ in items for s in sents))
            words = {s: set(terms(s)) for s, _ in pool}
            for q, sents, ctx, gold in items:
                qt = set(terms(q))
                pos = sents[min(gold)]
                others = [s for i, s in enumerate(sents) if i not in gold]
                same_p = max(others, key=lambda s: (len(qt & words[s]), rng.random()), default="")
                sample = rng.sample(pool, min(len(pool), 40))
                far = [s for s, c in sample if c != ctx]
                same_a = max(far, key=lambda s: (len(qt & words[s]), rng.random()), default="")
                paragraph = f"{title}\n{ctx}" if title else ctx
                train.append(Triple(domain, title, q, pos, same_p, same_a, paragraph, title))
    rng.shuffle(train)
    return train, val
