"""Pure text functions: word tokens for BM25 and term matching.

Matching normalises text (NFKC, case, curly quotes, light stemming).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)
_JOINER = re.compile(r"[-']")

STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is
    are was were be been being am do does did done doing have has had having it its it's this
    that these those there here what which who whom whose when where why how than so such not
    no nor too very can could will would shall should may might must i me my we our us you your
    he him his she her they them their also any all each both few more most other some own same
    just only up down out over under again further once s t whether per via upon while during
    before after between through within without against among""".split()
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stemmer: plural and a few inflectional suffixes."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suf, rep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            if suf == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suf == "es" and not word.endswith(("ches", "shes", "xes", "zes", "sses")):
                continue
            base = word[: len(word) - len(suf)] + rep
            if suf in ("ing", "ed") and len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    return word


def normalize(text: str) -> str:
    """NFKC, lower case, curly quotes made straight."""
    return unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")


def words(text: str) -> list[str]:
    """Normalised word tokens (stop words kept)."""
    return _WORD.findall(normalize(text))


def terms(text: str) -> list[str]:
    """Stemmed content terms for BM25 and overlap scoring (stop words dropped).

    A hyphenated compound ("EU-China") yields its parts and the joined form.
    Acronyms written with inner capitals ("MoST", "IoT") are never stop words.
    """
    out: list[str] = []
    nfkc = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    for raw in _WORD.findall(nfkc):
        w = raw.lower()
        if w.endswith("'s"):
            w, raw = w[:-2], raw[:-2]
        if "-" not in w and "'" not in w:
            if w not in STOPWORDS or raw[1:] != w[1:]:
                out.append(stem(w))
            continue
        parts = _JOINER.split(w)
        out.append(stem("".join(parts)))
        acronym = raw[1:] != w[1:]
        for p in parts:
            if p and (acronym or p not in STOPWORDS):
                out.append(stem(p))
    return out


@lru_cache(maxsize=16384)
def cached_terms(text: str) -> tuple[str, ...]:
    """:func:`terms`, memoised: the answerer sees the same passages again and again."""
    return tuple(terms(text))
