"""Whether a question leans on the conversation, and the query that reads it as a follow-up. Pure functions.

A question leans on the conversation when it holds a pronoun that nothing in it resolves ("When was it set
up?", "Who led them?"), or is bare: at most one content word ("When?", "And the EU side?", "Why?"). A
question that names its own topic (a name in capitals, or two content words with no such pronoun) stands
alone: "Who is Ms. Okafor?" after questions about the IoT group is about Ms. Okafor.

The answerer (:meth:`citeqa.qa.QA.ask`) reads a leaning question both ways, with and without the history,
and keeps the reading it trusts more; the answer then says which earlier question it was read with.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from citeqa.ingest.terms import terms

_PRONOUN = re.compile(
    r"\b(it|its|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|then|"
    r"the (group|same|latter|former|other|first|second|last) ?(one|side|group)?)\b", re.IGNORECASE)
_LEAD = re.compile(r"^\s*(and|but|also|so|what about|how about|and what about|what of)\b", re.IGNORECASE)
_NAME = re.compile(r"[A-Z][a-z]+|[A-Z]{2,}")  # a capitalised word or an acronym (one word, fullmatch)
_WH = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do",
       "does", "did", "can", "could"}
MAX_EARLIER = 5


def names_its_topic(question: str) -> bool:
    """Whether the question names something of its own: a capitalised word (not its first) or an acronym."""
    words = question.split()
    return any(_NAME.fullmatch(w.strip("?,.!:;\"'()")) and i > 0 and w.lower().strip("?,.!") not in _WH
               for i, w in enumerate(words))


def leans_on_history(question: str) -> bool:
    """Whether ``question`` needs the conversation to be understood (see the module's rules)."""
    content = set(terms(question))
    if len(content) <= 1 or (_LEAD.search(question) and len(content) <= 3):
        return True
    if _PRONOUN.search(question):
        return not (names_its_topic(question) and len(content) >= 3)
    return False


def contextual_query(question: str, history: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The retrieval query reading ``question`` as a follow-up, and the earlier questions it took in.

    Earlier questions are added, newest first, up to and including the last one that stands on its own. The
    current question stays on the first line: its answer type is the one that counts. A question that does
    not lean on the history is returned alone.
    """
    if not history or not leans_on_history(question):
        return question, ()
    context: list[str] = []
    for earlier in reversed(history[-MAX_EARLIER:]):
        context.append(earlier)
        if not leans_on_history(earlier):
            break
    return "\n".join([question, *context]), tuple(reversed(context))
