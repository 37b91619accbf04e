"""Question types and typed spans (pure regular expressions)."""

from __future__ import annotations

import pytest

from citeqa.answer.extract import answer_span
from citeqa.answer.qtypes import (
    DATE,
    EXPANSION,
    OTHER,
    PERSON,
    abbreviations,
    named_by,
    question_type,
    type_score,
    typed_spans,
    without_cue,
)

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


def test_expansion_anywhere_in_a_sentence_and_only_of_the_asked_abbreviation() -> None:
    s = "The groups that the Commission and Chinese Ministries (MIIT/MoST) created work with CATR."
    assert typed_spans(s, EXPANSION, abbreviations("What does MIIT stand for?")) == [], "(MIIT/MoST) is not MIIT"
    inner = "Since 2012 the work ran with the China Academy of Telecommunications Research (CATR) in Beijing."
    (span,) = typed_spans(inner, EXPANSION, abbreviations("What is CATR short for, in full?"))
    assert inner[span.start : span.end] == "China Academy of Telecommunications Research"
    assert type_score(inner, EXPANSION, {"catr"}, abbreviations("What does CATR stand for?")) == 1.0
    assert type_score(SENTENCE, EXPANSION, {"xyz"}, abbreviations("What does XYZ stand for?")) == 0.0


def test_who_prefers_people_over_organisations() -> None:
    group = "The EU-China IoT Advisory Group was established in February 2011."
    person = "The Chinese members were headed by Mr. Yu Xiaohui (Chief Engineer from CATR)."
    q = {"led", "chinese", "side", "iot", "advisory", "group"}
    assert type_score(group, PERSON, q) == 0.0, "the question names the group: it cannot be the answer"
    assert type_score(person, PERSON, q) == 1.0
    assert type_score("The work was done by the European Commission.", PERSON, {"work"}) == 0.5, "an organisation"
    text = "It was set up by the Ministry of Science and led by Mr. Yu Xiaohui."
    span = answer_span("Who led it?", text)
    assert span is not None and text[span.start : span.end] == "Mr. Yu Xiaohui"


def test_a_span_the_question_names_never_counts() -> None:
    assert named_by({"iot", "advisory", "group"}, "EU-China IoT Advisory Group", PERSON)
    assert not named_by({"led", "chinese"}, "Mr. Yu Xiaohui", PERSON)
    assert named_by({"2011"}, "2011", DATE) and not named_by({"2011"}, "February 2011", DATE)


@pytest.mark.parametrize(
    ("question", "kept"),
    [("What does MIIT stand for?", "What does MIIT"), ("How many members did the group have?", "members"),
     ("In what year was it founded?", "was it founded"), ("Why did they meet?", "Why did they meet?")],
)
def test_the_answer_type_cue_is_not_a_term_to_find(question: str, kept: str) -> None:
    blank = without_cue(question)
    assert len(blank) == len(question) and kept in blank
    if question_type(question) != OTHER:
        assert blank != question


def test_unaligned_part_of_the_sentence_is_the_short_answer_of_an_untyped_question() -> None:
    text = "The cooperation focused on smart transport systems, according to the plan."
    q = "What did the cooperation focus on?"
    aligned = [(4, 15), (16, 23)]  # "cooperation", "focused"
    span = answer_span(q, text, aligned, (0, len(text)))
    assert span is not None and text[span.start : span.end] == "smart transport systems"
    assert answer_span(q, text, [], (0, len(text))) is None, "nothing aligned: no short answer"
