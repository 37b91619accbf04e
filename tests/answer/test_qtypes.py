"""Question types and typed spans (pure regular expressions)."""

from __future__ import annotations

import pytest

from citeqa.answer.extract import answer_span
from citeqa.answer.qtypes import EXPANSION, OTHER, PERSON, question_type, typed_spans

SENTENCE = (
    "The activity was implemented jointly by the Ministry of Industry and Information Technology (MIIT) and "
    "the China Academy of Telecommunications Research (CATR) on the Chinese side."
)


@pytest.mark.parametrize(
    "question",
    [
        "What does the abbreviation MIIT stand for?",
        "What does TFEU stand for?",
        "What is the full name of CATR?",
        "What is the acronym of the ministry?",
    ],
)
def test_expansion_questions(question: str) -> None:
    assert question_type(question) == EXPANSION


@pytest.mark.parametrize(
    ("question", "kind"),
    [("What is the full name of the king?", OTHER), ("Who headed the group?", PERSON)],
)
def test_not_expansion_questions(question: str, kind: str) -> None:
    assert question_type(question) == kind


def test_expansion_spans_are_the_names_written_out_before_the_abbreviation() -> None:
    got = [SENTENCE[s.start : s.end] for s in typed_spans(SENTENCE, EXPANSION)]
    assert got == ["Ministry of Industry and Information Technology", "China Academy of Telecommunications Research"]
    other = "The Treaty on the Functioning of the European Union (TFEU) applies."
    assert [other[s.start : s.end] for s in typed_spans(other, EXPANSION)] == [
        "Treaty on the Functioning of the European Union"
    ]
    assert typed_spans("No abbreviation (here) in lower case (or this).", EXPANSION) == []


def test_expansion_answer_span_is_the_one_next_to_the_asked_abbreviation() -> None:
    span = answer_span("What does the abbreviation CATR stand for?", SENTENCE)
    assert span is not None and SENTENCE[span.start : span.end] == "China Academy of Telecommunications Research"
    span = answer_span("What does the abbreviation MIIT stand for?", SENTENCE)
    assert span is not None and SENTENCE[span.start : span.end] == "Ministry of Industry and Information Technology"
