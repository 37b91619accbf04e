"""The chat message for an answer: each citation its own quote block, citeqa's short answer marked as citeqa's,
and one meaning of confidence (the meter's bands follow the threshold and floor in use). Pure functions.

Quotes from different places of the documents are never run together: the answer is the quotes joined by spaces
(:attr:`citeqa.models.Answer.answer`), but each is shown in its own block, with its ``[n]`` link after it.
The short answer is a highlight citeqa adds (``<mark class="cq-span">``, with a tooltip and a legend), shown
only for an answer at or above :data:`SPAN_MIN_CONFIDENCE` and only when :data:`SHOW_SHORT_ANSWER` (off: see its
measurement); ``answer_span`` in the JSON keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Sequence

from citeqa.app.render import esc, short, where
from citeqa.models import ABSTAINED, TENTATIVE, Answer, Citation

SPAN_MIN_CONFIDENCE = 0.5  # below this the short answer is never shown (it is a guess inside a verbatim quote)
# Measured (benchmarks/short_answer.py, SQuAD six articles): the short answer matches the gold answer exactly for
# 0.25 of the answers at or above 0.5 (F1 0.37), far from the 0.60 a reader could trust, and the answer's
# confidence does not tell right spans from wrong ones. So the app shows no short answer until a span model exists;
# `answer_span` stays in the JSON with its meaning.
SHOW_SHORT_ANSWER = False
SPAN_TITLE = "citeqa's short answer: a highlight added by citeqa, not part of the document"
DEFAULT_THRESHOLD = 0.2


def confidence_level(confidence: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """``high`` (at least halfway from the threshold to 1), ``medium`` (answered), or ``low`` (below it)."""
    if confidence < threshold:
        return "low"
    return "high" if confidence >= (threshold + 1.0) / 2 else "medium"


def confidence_html(confidence: float, abstained: bool = False, tentative: bool = False,
                    threshold: float = DEFAULT_THRESHOLD) -> str:
    """Five pips, a word and the number; the words say where the answer stands against the threshold."""
    level = "low" if abstained or tentative else confidence_level(confidence, threshold)
    pips = max(0, min(5, round(confidence * 5)))
    words = ("too low to answer" if abstained and not tentative
             else f"low: under the answer threshold {threshold:.2f}" if tentative or level == "low"
             else f"{level} confidence")
    return (f'<span class="cq-conf cq-conf-{level}" title="confidence {confidence:.2f}; answers need '
            f'{threshold:.2f}">{"●" * pips}{"○" * (5 - pips)} {words} ({confidence:.2f})</span>')


def _quote_html(quote: str, offset: int, span: tuple[int, int] | None) -> str:
    """One quote, escaped; the short answer marked when it lies inside it (``offset``: where the quote starts in
    the answer text)."""
    if span and offset <= span[0] < span[1] <= offset + len(quote):
        a, b = span[0] - offset, span[1] - offset
        return (f'{esc(quote[:a])}<mark class="cq-span" title="{SPAN_TITLE}">{esc(quote[a:b])}</mark>'
                f"{esc(quote[b:])}")
    return esc(quote)


def quote_blocks(answer: str, span: tuple[int, int] | None, citations: Sequence[Citation]) -> str:
    """Each citation's quote in its own block with its ``[n]`` link (or the whole text in one block when it is
    not the quotes joined by spaces)."""
    if not citations or answer != " ".join(c.quote for c in citations):
        refs = " ".join(ref_html(c.n) for c in citations)
        return f'<blockquote class="cq-quote">{_quote_html(answer, 0, span)} {refs}</blockquote>'
    out, pos = [], 0
    for c in citations:
        out.append(f'<blockquote class="cq-quote" data-cite="{c.n}">{_quote_html(c.quote, pos, span)} '
                   f"{ref_html(c.n)}</blockquote>")
        pos += len(c.quote) + 1
    return "".join(out)


def ref_html(n: int) -> str:
    """A ``[n]`` marker that opens citation ``n`` in the evidence panel (the app's script handles the click)."""
    return f'<sup class="cq-ref"><a href="#cq-cite-{n}" class="cq-ref-link" data-cite="{n}">[{n}]</a></sup>'


def answer_html(answer: Answer, threshold: float = DEFAULT_THRESHOLD, show_span: bool = SHOW_SHORT_ANSWER) -> str:
    """The chat message for an answer, or for an abstention with the closest passages."""
    if answer.status == ABSTAINED or not answer.answer:
        return abstain_html(answer, threshold=threshold)
    tentative = answer.status == TENTATIVE
    show_span = (show_span and not tentative and answer.confidence >= SPAN_MIN_CONFIDENCE
                 and answer.answer_span is not None)
    span = (answer.answer_span.start, answer.answer_span.end) if show_span and answer.answer_span else None
    sources = "".join(f'<li>{ref_html(c.n)} {where(c.doc, c.section, c.page)}</li>' for c in answer.citations)
    head = ('<p class="cq-tentative-head"><strong>Possible answer (low confidence)</strong> — the closest '
            "sentence; check its source.</p>") if tentative else ""
    legend = (f'<p class="cq-legend"><mark class="cq-span" title="{SPAN_TITLE}">marked</mark>: citeqa\'s short '
              "answer, its own highlight, not the document's</p>") if span else ""
    return (f'<div class="cq-answer{" cq-tentative" if tentative else ""}">{head}{followup_html(answer)}'
            f"{quote_blocks(answer.answer, span, answer.citations)}{legend}"
            f'<ul class="cq-sources">{sources}</ul>'
            f"{confidence_html(answer.confidence, tentative=tentative, threshold=threshold)}</div>")


def followup_html(answer: Answer) -> str:
    """One quiet line when the answer read the question with earlier ones, and how to ask it alone."""
    if not answer.follow_up_of:
        return ""
    earlier = " / ".join(f"“{esc(q)}”" for q in answer.follow_up_of)
    return (f'<p class="cq-followup">Read as a follow-up to: {earlier}. To ask it on its own, press '
            "<em>Clear</em> and ask again.</p>")


def abstain_html(answer: Answer, closest: int = 3, threshold: float = DEFAULT_THRESHOLD) -> str:
    """'The documents don't say …', then the closest passages (if any)."""
    items = "".join(f'<li>{where(p.chunk.doc, p.chunk.section, p.page)}: '
                    f'<span class="cq-snippet">{esc(short(p.chunk.text))}</span></li>'
                    for p in answer.passages[:closest])
    more = f'<p>Closest passages:</p><ul class="cq-closest">{items}</ul>' if items else ""
    return ('<div class="cq-answer cq-abstained">'
            f"<p><strong>The documents don't say</strong> — no passage answers “{esc(answer.question)}” "
            "with enough confidence.</p>"
            f"{more}{confidence_html(answer.confidence, abstained=True, threshold=threshold)}</div>")
