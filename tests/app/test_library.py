"""Removing a document from the Documents tab: moved out of the corpus (never deleted), re-indexed."""

from __future__ import annotations

import html
from pathlib import Path

from citeqa.app.library import REMOVED, Library
from citeqa.qa import QA

DOC = "eu_china_expert_groups.txt"


def test_remove_moves_the_file_aside_and_reindexes(fake_qa: QA, tmp_path: Path) -> None:
    corpus = fake_qa.settings.corpus_dir
    (corpus / "kites.txt").write_text("Kites were flown on the beach in 2020.\n", encoding="utf-8")
    fake_qa.build()
    lib = Library(fake_qa, tmp_path / "up")
    panel, status = (html.unescape(x) for x in lib.remove("kites.txt"))
    assert "Removed kites.txt" in status and "Index updated" in status
    assert not (corpus / "kites.txt").exists()
    kept = list((corpus / REMOVED).iterdir())
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8").startswith("Kites were flown")
    assert [p for p, _, _ in fake_qa.documents()] == [DOC] and "kites" not in panel


def test_remove_refuses_anything_but_an_indexed_document(fake_qa: QA, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("s", encoding="utf-8")
    lib = Library(fake_qa, tmp_path / "up")
    for bad in ("../secret.txt", str(outside), "", "missing.txt", f"{REMOVED}/x.txt"):
        _, status = lib.remove(bad)
        assert "is not an indexed document" in status, bad
    assert outside.exists() and (fake_qa.settings.corpus_dir / DOC).exists()


def test_example_questions_come_from_the_documents_headings(tmp_path: Path) -> None:
    from citeqa.app.ui import default_examples
    from citeqa.config import Settings

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "pumps.md").write_text("# Pump manual\n\nIntro text here.\n\n## Starting the pump\n\nTurn the key.\n\n"
                                     "## Stopping it\n\nPress the red button.\n", encoding="utf-8")
    (corpus / "plain_notes.txt").write_text("nothing but one plain line of text.\n", encoding="utf-8")
    qa = QA(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash"))
    qa.build()
    assert qa.sections("pumps.md") == ["Pump manual", "Starting the pump", "Stopping it"]
    assert default_examples(qa) == ["What does plain_notes.txt say about plain notes?",
                                    "What does pumps.md say about Starting the pump?"]
