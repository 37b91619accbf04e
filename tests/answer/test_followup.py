"""Follow-ups that are follow-ups: a question leans on the conversation only when it cannot stand alone."""

from __future__ import annotations

import pytest

from citeqa.answer.followup import contextual_query, leans_on_history, names_its_topic
from citeqa.config import Settings
from citeqa.qa import QA

IOT = "Tell me about the IoT Advisory Group"


@pytest.mark.parametrize("question", [
    "When was it set up?", "Who led them?", "When?", "And the EU side?", "What about its members?",
    "Why?", "How many of those were there?",
])
def test_questions_that_lean_on_the_conversation(question: str) -> None:
    assert leans_on_history(question)


@pytest.mark.parametrize("question", [
    "Who is Ms. Okafor?", "When was the IPv6 group established?", "What does the broadband policy cover?",
    "Who led the Chinese side of the IoT advisory group?", "What is a chroot environment on Debian?",
    "How do I quit the vim editor?", "Which projects did Okafor fund when she chaired it?",
])
def test_questions_that_name_their_own_topic_stand_alone(question: str) -> None:
    assert not leans_on_history(question)


def test_a_name_is_a_capitalised_word_after_the_first_or_an_acronym() -> None:
    assert names_its_topic("When did Okafor join them?") and names_its_topic("Who led the EU side?")
    assert not names_its_topic("When did they join?") and not names_its_topic("Where is it?")


def test_contextual_query_takes_earlier_questions_up_to_one_that_stands_alone() -> None:
    history = ["Who chairs the broadband group?", IOT, "When?"]
    query, earlier = contextual_query("And who led it?", history)
    assert earlier == (IOT, "When?") and query.splitlines()[0] == "And who led it?"
    assert contextual_query("Who is Ms. Okafor?", history) == ("Who is Ms. Okafor?", ())
    assert contextual_query("When was it set up?", []) == ("When was it set up?", ())


def test_a_topic_change_is_answered_from_the_new_topic(fake_qa: QA) -> None:
    alone = fake_qa.ask("When was the EU-China IoT Advisory Group established?")
    after = fake_qa.ask("When was the EU-China IoT Advisory Group established?",
                        history=["Who leads the broadband expert group?"])
    assert after.to_dict() == alone.to_dict() and after.follow_up_of == ()


def test_a_follow_up_says_what_it_was_read_with(fake_settings: Settings) -> None:
    qa = QA(fake_settings)
    qa.build()
    got = qa.ask("When was it set up?", history=["Tell me about the EU-China IoT Advisory Group"])
    if got.follow_up_of:  # the reading with the history was trusted more
        assert got.follow_up_of == ("Tell me about the EU-China IoT Advisory Group",)
        assert got.to_dict()["follow_up_of"] == ["Tell me about the EU-China IoT Advisory Group"]
    alone = qa.ask("When was it set up?")
    assert got.confidence >= alone.confidence
