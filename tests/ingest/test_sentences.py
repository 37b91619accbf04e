"""Tests for citeqa.ingest.sentences: sentence spans over the original text, and terms for matching."""

from __future__ import annotations

import pytest

from citeqa.ingest.sentences import is_space, paragraphs, split_sentences
from citeqa.ingest.terms import stem, terms, words
from citeqa.models import Span


def sents(text: str, **kw: int) -> list[str]:
    spans = split_sentences(text, **kw)
    _check_spans(text, spans)
    return [text[s.start : s.end] for s in spans]


def _check_spans(text: str, spans: list[Span], start: int = 0, end: int | None = None) -> None:
    """Spans are in bounds, sorted, disjoint, non-empty and trimmed."""
    end = len(text) if end is None else end
    prev = start
    for s in spans:
        assert prev <= s.start < s.end <= end, (s, prev, end)
        assert not is_space(text[s.start]) and not is_space(text[s.end - 1])
        prev = s.end


# --- sentence boundaries ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Yu Xiaohui was head. Dr. Smith came later.", ["Mr. Yu Xiaohui was head.", "Dr. Smith came later."]),
        (
            "It was held on Sept 5, 2013 in Beijing. Both sides agreed.",
            ["It was held on Sept 5, 2013 in Beijing.", "Both sides agreed."],
        ),
        ("It was held on Sept. 5, 2013. Next.", ["It was held on Sept. 5, 2013.", "Next."]),
        ("Use a fruit, e.g. Apples or pears. Fine.", ["Use a fruit, e.g. Apples or pears.", "Fine."]),
        ("Tools, i.e. Hammers, help. Yes.", ["Tools, i.e. Hammers, help.", "Yes."]),
        ("J. R. R. Tolkien wrote it. It sold well.", ["J. R. R. Tolkien wrote it.", "It sold well."]),
        ("The U.S. Army came. Then it left.", ["The U.S. Army came.", "Then it left."]),
        (
            "Chinese Ministries (MIIT/MoST) created groups. DG CONNECT and MoST/MIIT agreed.",
            ["Chinese Ministries (MIIT/MoST) created groups.", "DG CONNECT and MoST/MIIT agreed."],
        ),
        ("Prices rose 3.5 percent. Then fell.", ["Prices rose 3.5 percent.", "Then fell."]),
        ("See Fig. 3 for details. It works.", ["See Fig. 3 for details.", "It works."]),
        ("Was it? Yes! Really… Sure.", ["Was it?", "Yes!", "Really…", "Sure."]),
        ("version 2.0 ships. lower case never starts one.", ["version 2.0 ships. lower case never starts one."]),
    ],
)
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert sents(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Abbreviations that are also ordinary words must not swallow a boundary.
        ("The cat sat. Next one.", ["The cat sat.", "Next one."]),
        ("The answer is no. Then more. No. 5 won.", ["The answer is no.", "Then more.", "No. 5 won."]),
        ("I ate a fig. Then left.", ["I ate a fig.", "Then left."]),
    ],
)
def test_abbreviation_lookalikes(text: str, expected: list[str]) -> None:
    assert sents(text) == expected


def test_curly_quotes_end_and_start_sentences() -> None:
    text = "He said “Stop.” Then he left. ‘Why?’ she asked."
    assert sents(text) == ["He said “Stop.”", "Then he left.", "‘Why?’ she asked."]


def test_non_breaking_spaces() -> None:
    text = "\u00a0The cat sat.\u00a0Next one came\u00a0in 2010.\u00a0\u00a0"
    assert sents(text) == ["The cat sat.", "Next one came\u00a0in 2010."]


def test_crlf_text() -> None:
    text = "Title line\r\n\r\nBody one. Body two.\r\nMore text here.\r\n"
    assert sents(text) == ["Title line", "Body one.", "Body two.", "More text here."]


def test_bullets_are_sentences_without_markers() -> None:
    text = (
        "The cooperation will mainly include:\n\n  • Enhancing the IoT cooperation\n  • Co-research on IoT\n"
        "- dash item\n3. numbered"
    )
    assert sents(text) == [
        "The cooperation will mainly include:",
        "Enhancing the IoT cooperation",
        "Co-research on IoT",
        "dash item",
        "numbered",
    ]


def test_blank_line_always_ends_a_sentence() -> None:
    assert sents("no punctuation here\n\nnor here") == ["no punctuation here", "nor here"]


def test_wrapped_line_continues_a_sentence() -> None:
    text = "This long sentence is wrapped by the editor at some column and\ncontinues on the next line. Done."
    assert sents(text) == [
        "This long sentence is wrapped by the editor at some column and\ncontinues on the next line.",
        "Done.",
    ]


def test_spans_index_the_original_text_with_offset_window() -> None:
    text = "Ignored. First here. Second here. Ignored too."
    a, b = text.index("First"), text.index(" Ignored too")
    spans = split_sentences(text, a, b)
    _check_spans(text, spans, a, b)
    assert [text[s.start : s.end] for s in spans] == ["First here.", "Second here."]


def test_seed_sentences_are_trimmed_and_exact(seed_copy) -> None:
    text = (seed_copy / "eu_china_expert_groups.txt").read_text(encoding="utf-8")
    got = sents(text)
    assert "The EU-China IoT Advisory Group was established in February 2011." in got
    assert any(s.startswith("The Chinese members were headed by Mr. Yu Xiaohui") for s in got)
    assert any("Sept 5, 2013 on the premises of CATR." in s for s in got)
    assert "Co-experiment of PTDN" in got  # a bullet, marker dropped


# --- long sentences -----------------------------------------------------------


def test_long_sentence_cut_at_whitespace() -> None:
    text = "word " * 100
    got = sents(text, max_len=100)
    assert len(got) == 5
    assert all(len(s) <= 100 for s in got)
    assert all(s.startswith("word") and s.endswith("word") for s in got)


def test_long_token_cut_hard() -> None:
    text = "x" * 250
    got = sents(text, max_len=100)
    assert [len(s) for s in got] == [100, 100, 50]
    assert "".join(got) == text


# --- paragraphs -------------------------------------------------------------------


def test_paragraphs_split_on_blank_lines_including_crlf() -> None:
    text = "one\n\ntwo\r\n\r\nthree\n \t\nfour"
    assert [text[s.start : s.end] for s in paragraphs(text)] == ["one", "two", "three", "four"]


# --- terms --------------------------------------------------------------------


def test_terms_stem_and_drop_stopwords() -> None:
    assert terms("The ministries were running the meetings") == ["ministry", "run", "meeting"]


def test_terms_keep_acronyms_that_look_like_stopwords() -> None:
    assert terms("it is most important") == ["important"]
    assert terms("IT is MoST important") == ["it", "most", "important"]
    assert "iot" in terms("the IoT group")


def test_terms_hyphen_compounds_give_parts_and_joined_form() -> None:
    assert terms("EU-China") == ["euchina", "eu", "china"]
    assert terms("co-research") == ["coresearch", "co", "research"]


def test_terms_normalise_possessives_case_and_width() -> None:
    assert terms("ISO’s standard") == terms("iso's standards") == ["iso", "standard"]
    assert terms("ＩＰｖ６") == terms("IPv6") == ["ipv6"]


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        ("studies", "study"),
        ("classes", "class"),
        ("boxes", "box"),
        ("running", "run"),
        ("stopped", "stop"),
        ("status", "status"),
        ("analysis", "analysis"),
        ("groups", "group"),
        ("ipv6", "ipv6"),
        ("is", "is"),
    ],
)
def test_stem(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


def test_words_keep_stopwords_and_compounds() -> None:
    assert words("Hello, the Wörld’s EU-China") == ["hello", "the", "wörld's", "eu-china"]
