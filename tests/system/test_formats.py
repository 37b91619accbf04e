"""PDF pages and Word files through the whole pipeline (hash model): the JSON ``page``, the CLI's "p. N",
sections from a PDF outline and from Word heading styles, and an index from before pages that still loads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from citeqa.app.cli import main
from citeqa.config import Settings
from citeqa.index.layout import current_folder
from citeqa.qa import QA
from docxs import handbook_docx
from pdfs import GUIDE_OUTLINE, GUIDE_PAGES, pages_pdf

KEEPER_Q = "Who kept the light from 1931 to 1960?"
OIL_Q = "Until when did the lamp burn whale oil?"


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "guide.pdf").write_bytes(pages_pdf(GUIDE_PAGES, GUIDE_OUTLINE))
    (folder / "handbook.docx").write_bytes(handbook_docx())
    (folder / "notes.txt").write_text("The ferry leaves the harbour at nine.\n", encoding="utf-8")
    return folder


@pytest.fixture()
def args(corpus: Path, tmp_path: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--model", "hash", "--min-confidence", "0"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def qa_for(corpus: Path, tmp_path: Path) -> QA:
    return QA(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash"))


@pytest.mark.parametrize(("question", "page", "section"), [(KEEPER_Q, 3, "1.1 Keepers"),
                                                            (OIL_Q, 4, "Lamp and fuel")])
def test_pdf_citations_and_passages_carry_their_page_in_the_json(
    capsys: pytest.CaptureFixture[str], args: list[str], corpus: Path, tmp_path: Path, question: str, page: int,
    section: str,
) -> None:
    code, out, _ = run(capsys, "ask", question, *args, "--json")
    assert code == 0
    d = json.loads(out)
    doc = qa_for(corpus, tmp_path).document("guide.pdf")
    cite = d["citations"][0]
    assert cite["doc"] == "guide.pdf" and cite["page"] == page and cite["section"] == section
    assert doc.text[cite["start"] : cite["end"]] == cite["quote"]
    for item in d["citations"] + d["passages"]:
        if item["doc"] == "guide.pdf":
            start = item["start"]
            assert doc.pages[item["page"] - 1] <= start, "the page's range holds the start"
            assert item["page"] == len(doc.pages) or start < doc.pages[item["page"]]
        else:
            assert item["page"] is None


def test_cli_source_line_names_the_page(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run(capsys, "ask", KEEPER_Q, *args)
    assert code == 0
    source = next(line for line in out.splitlines() if line.startswith("[1] "))
    assert source.startswith("[1] guide.pdf — 1.1 Keepers — p. 3, characters ")
    assert "Mirela Voss" in out


def test_word_file_is_answered_with_its_heading_as_section(capsys: pytest.CaptureFixture[str], args: list[str],
                                                           corpus: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "ask", "What must every boat carry?", *args, "--json")
    assert code == 0
    cite = json.loads(out)["citations"][0]
    assert cite["doc"] == "handbook.docx" and cite["section"] == "Equipment" and cite["page"] is None
    assert cite["quote"].startswith("Every boat must carry:")
    text = qa_for(corpus, tmp_path).document("handbook.docx").text
    assert text[cite["start"] : cite["end"]] == cite["quote"]
    code, out, _ = run(capsys, "ask", "How much is a yacht?", *args, "--json")
    got = json.loads(out)  # a table row is a sentence of its own, quoted after its table's header row
    assert [c["quote"] for c in got["citations"]] == ["Boat | Day | Week", "Yacht | on request"]
    assert got["answer"] == "Boat | Day | Week Yacht | on request"


def test_an_index_from_before_pages_loads_and_the_next_index_reads_its_pdfs_again(
    capsys: pytest.CaptureFixture[str], args: list[str], corpus: Path, tmp_path: Path
) -> None:
    """An index built before PDFs had pages (no pages column, no reader in the manifest) still answers, with
    page null; `citeqa index` then reads only its PDFs again (an update, not a full build) and the pages appear."""
    for i in range(30):  # enough other rows that re-reading the PDF is an update
        (corpus / f"note{i:02}.txt").write_text(f"Note {i}: the buoy number {i} was painted green.\n", encoding="utf-8")
    assert run(capsys, "index", *args[:6])[0] == 0
    folder = current_folder(tmp_path / "index")
    con = sqlite3.connect(folder / "store.sqlite")
    con.execute("ALTER TABLE documents DROP COLUMN pages")
    con.commit()
    con.close()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["readers"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, out, err = run(capsys, "ask", KEEPER_Q, *args, "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["citations"][0]["page"] is None
    code, out, _ = run(capsys, "index", *args[:6])
    assert code == 0 and "updated for 1 changed file(s)" in out, out
    code, out, _ = run(capsys, "ask", KEEPER_Q, *args, "--json")
    assert json.loads(out)["citations"][0]["page"] == 3
    assert "index is up to date" in run(capsys, "index", *args[:6])[1]
