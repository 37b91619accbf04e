"""Tests for citeqa.ingest.files: scanning the corpus and reading each file format."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from citeqa.errors import CorpusError, InputError
from citeqa.ingest.files import (
    SUPPORTED,
    Skipped,
    corpus_name,
    corpus_path,
    file_fingerprints,
    load_corpus,
    read_document,
    scan_corpus,
)
from citeqa.ingest.html import html_to_text
from citeqa.models import sha256_hex
from pdfs import blank_pdf, encrypted_pdf, text_pdf

SEED_CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def _reasons(skipped: list[Skipped]) -> dict[str, str]:
    return {s.path: s.reason for s in skipped}


# --- plain text -------------------------------------------------------------


def test_txt_keeps_crlf_and_offsets(tmp_path: Path) -> None:
    raw = "Title\r\n\r\nFirst line.\r\nSecond line — ok.\r\n"
    p = _write(tmp_path / "a.txt", raw)
    doc = read_document(p, "a.txt")
    assert doc.text == raw
    with open(p, encoding="utf-8", newline="") as fh:
        assert doc.text == fh.read()
    start = doc.text.index("Second")
    assert doc.text[start : start + len("Second line")] == "Second line"
    assert doc.format == "txt" and doc.path == "a.txt" and doc.headings == ()
    assert doc.sha256 == sha256_hex(raw.encode("utf-8"))


def test_utf8_bom_is_dropped(tmp_path: Path) -> None:
    p = _write(tmp_path / "bom.txt", b"\xef\xbb\xbfHello there")
    assert read_document(p, "bom.txt").text == "Hello there"


def test_latin1_text_is_kept(tmp_path: Path) -> None:
    p = _write(tmp_path / "l1.txt", "Café crème à la française.\n".encode("latin-1"))
    doc = read_document(p, "l1.txt")
    assert doc.text == "Café crème à la française.\n"


def test_utf16_with_bom(tmp_path: Path) -> None:
    p = _write(tmp_path / "u16.txt", "Hello wide world".encode("utf-16"))
    assert read_document(p, "u16.txt").text == "Hello wide world"


def test_binary_txt_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path / "bin.txt", bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"bin\.txt looks binary"):
        read_document(p, "bin.txt")
    q = _write(tmp_path / "ctl.txt", b"\x01\x02\x03\x04\x05ab\x06\x07\x08")
    with pytest.raises(InputError, match="looks binary"):
        read_document(q, "ctl.txt")


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  "])
def test_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    p = _write(tmp_path / "e.md", content)
    with pytest.raises(InputError, match=r"e\.md is empty"):
        read_document(p, "e.md")


def test_too_large_is_refused(tmp_path: Path) -> None:
    p = _write(tmp_path / "big.txt", "x" * 2048)
    with pytest.raises(InputError, match="larger than"):
        read_document(p, "big.txt", max_bytes=1024)


def test_unsupported_suffix(tmp_path: Path) -> None:
    p = _write(tmp_path / "a.odt", "text")
    with pytest.raises(InputError, match="unsupported file type"):
        read_document(p, "a.odt")


# --- markdown ---------------------------------------------------------------


def test_markdown_headings_offsets(tmp_path: Path) -> None:
    raw = (
        "---\ntitle: front matter\n---\n"
        "# Getting started\r\n\r\nIntro text.\r\n\r\n"
        "Setext Title\n============\n\nBody.\n\n"
        "```\n# not a heading\n```\n\n"
        "## Install ##\n\nMore.\n\nSmall part\n---\n\n    # indented code\n#nospace\n"
    )
    p = _write(tmp_path / "guide.md", raw)
    doc = read_document(p, "guide.md")
    assert doc.text == raw and doc.format == "md"
    got = [(h.title, h.level) for h in doc.headings]
    assert got == [
        ("Getting started", 1),
        ("Setext Title", 1),
        ("Install", 2),
        ("Small part", 2),
    ]
    for h in doc.headings:
        assert h.title in doc.text[h.start : h.end]
    setext = doc.headings[1]
    assert doc.text[setext.start : setext.end] == "Setext Title\n============"
    first = doc.headings[0]
    assert doc.text[first.start : first.end] == "# Getting started"


# --- HTML -------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Page title</title>
<style>body { color: red; }</style>
<script>var s = "<p>not text</p>";</script></head>
<body>
<h1>Fish &amp; Chips</h1>
<p>Served   since <b>1860</b> in
   London &mdash; caf&eacute;s &lt;too&gt;.</p>
<div style="display:none">hidden text</div>
<ul><li>Cod</li><li>Haddock</li></ul>
<h2>Prices</h2>
<pre>  price:   5
  tax:     1</pre>
<noscript>enable js</noscript>
</body></html>"""


def test_html_visible_text(tmp_path: Path) -> None:
    p = _write(tmp_path / "page.html", PAGE)
    doc = read_document(p, "page.html")
    assert doc.format == "html"
    text = doc.text
    for absent in ("color", "not text", "var s", "Page title", "hidden", "enable js"):
        assert absent not in text
    assert "Served since 1860 in London — cafés <too>." in text
    assert "• Cod\n\n• Haddock" in text
    assert "  price:   5\n  tax:     1" in text
    assert "\n\n\n" not in text
    assert [(h.title, h.level) for h in doc.headings] == [
        ("Fish & Chips", 1),
        ("Prices", 2),
    ]
    for h in doc.headings:
        assert text[h.start : h.end] == h.title
    for line in text.split("\n"):
        if "price" not in line and "tax" not in line:
            assert line == line.strip()


@pytest.mark.parametrize(
    "html",
    [
        "<div><p>Unclosed <b>bold text",
        "</div></div>Stray closers</p></span><h2>Open heading<p>para",
        "<h1>one<h2>two</h1>three",
        "<<<>>> & &amp &#99999999; </",
        "<head><p>body without body tag",
        "<table><tr><td>a<td>b<tr><td>c",
        "<a href='x>broken quote</a> ok",
    ],
)
def test_malformed_html_does_not_crash(html: str) -> None:
    text, headings = html_to_text(html)
    assert isinstance(text, str)
    for h in headings:
        assert text[h.start : h.end] == h.title


def test_malformed_html_file(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.htm", "<html><body><h2>Open heading<p>para</div>")
    doc = read_document(p, "bad.htm")
    assert doc.text == "Open heading\n\npara"
    assert [h.title for h in doc.headings] == ["Open heading"]


def test_html_legacy_charset(tmp_path: Path) -> None:
    raw = '<meta charset="iso-8859-1"><p>Déjà vu</p>'.encode("latin-1")
    p = _write(tmp_path / "old.html", raw)
    assert read_document(p, "old.html").text == "Déjà vu"


def test_html_without_visible_text(tmp_path: Path) -> None:
    p = _write(tmp_path / "blank.html", "<html><head><title>x</title></head></html>")
    with pytest.raises(InputError, match="empty"):
        read_document(p, "blank.html")


# --- PDF --------------------------------------------------------------------


def test_pdf_text_layer(tmp_path: Path) -> None:
    p = _write(tmp_path / "hello.pdf", text_pdf("Hello PDF world"))
    doc = read_document(p, "hello.pdf")
    assert doc.format == "pdf" and doc.headings == () and doc.pages == (0,)
    assert doc.text == "Hello PDF world"


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    p = _write(tmp_path / "scan.pdf", blank_pdf())
    with pytest.raises(InputError, match="no text layer"):
        read_document(p, "scan.pdf")


def test_encrypted_pdf(tmp_path: Path) -> None:
    p = _write(tmp_path / "locked.pdf", encrypted_pdf())
    with pytest.raises(InputError, match="encrypted"):
        read_document(p, "locked.pdf")


def test_broken_pdf(tmp_path: Path) -> None:
    p = _write(tmp_path / "broken.pdf", b"%PDF-1.4\nthis is not really a pdf\n")
    with pytest.raises(InputError, match=r"broken\.pdf"):
        read_document(p, "broken.pdf")


# --- the corpus -------------------------------------------------------------


def test_scan_sorted_recursive_skips_hidden(tmp_path: Path) -> None:
    for rel in ("b.txt", "a/z.md", "a/b.html", ".hidden.txt", ".git/x.txt", "c.csv"):
        _write(tmp_path / rel, "some text")
    rels = [p.relative_to(tmp_path).as_posix() for p in scan_corpus(tmp_path)]
    assert rels == ["a/b.html", "a/z.md", "b.txt"]
    prints = file_fingerprints(tmp_path)
    assert set(prints) == set(rels)
    assert prints["b.txt"][0] == len("some text")
    assert ".pdf" in SUPPORTED and ".docx" in SUPPORTED


def test_load_corpus_reports_skipped(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    _write(corpus / "good.txt", "Good text.")
    _write(corpus / "same.txt", "Good text.")
    _write(corpus / "empty.txt", "")
    _write(corpus / "bin.txt", b"\x00\x01\x02binary")
    _write(corpus / "scan.pdf", blank_pdf())
    _write(corpus / "doc.pdf", text_pdf("Hello PDF world"))
    outside = _write(tmp_path / "outside.txt", "Secret outside text.")
    (corpus / "link.txt").symlink_to(outside)
    (corpus / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    docs, skipped = load_corpus(corpus)
    assert [d.path for d in docs] == ["doc.pdf", "good.txt"]
    reasons = _reasons(skipped)
    assert reasons["same.txt"] == "duplicate of good.txt"
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["bin.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert reasons["link.txt"] == "symlink points outside the corpus folder"
    assert reasons["linkdir"] == "symlink points outside the corpus folder"
    assert [s.path for s in skipped] == sorted(reasons)
    assert all("link" not in p.name for p in scan_corpus(corpus))


def test_symlink_inside_corpus_is_a_duplicate(tmp_path: Path) -> None:
    _write(tmp_path / "real.txt", "Real text.")
    (tmp_path / "z_link.txt").symlink_to(tmp_path / "real.txt")
    docs, skipped = load_corpus(tmp_path)
    assert [d.path for d in docs] == ["real.txt"]
    assert skipped == [Skipped("z_link.txt", "duplicate of real.txt")]


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The permission path, simulated (chmod 000 does not stop root)."""
    _write(tmp_path / "ok.txt", "Readable.")
    locked = _write(tmp_path / "locked.txt", "Locked.")
    real_access = os.access

    def fake_access(path: os.PathLike[str] | str, mode: int) -> bool:
        return Path(path) != locked and real_access(path, mode)

    monkeypatch.setattr(os, "access", fake_access)
    docs, skipped = load_corpus(tmp_path)
    assert [d.path for d in docs] == ["ok.txt"]
    assert skipped == [Skipped("locked.txt", "cannot be read: permission denied")]
    with pytest.raises(InputError, match=r"locked\.txt cannot be read"):
        read_document(locked, "locked.txt")


# --- file names that are not UTF-8 --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"bad\xffname.txt", b"sub\xe9dir/caf\xe9.md", b"back\\slash\xff.txt",
                                 b"lit\\xfferal\xfe.txt"])
def test_undecodable_file_names_get_a_stable_escaped_name_that_leads_back(tmp_path: Path, raw: bytes) -> None:
    target = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), raw))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    Path(target).write_text("The zebra crossing was painted in 1977.", encoding="utf-8")
    (rel,) = file_fingerprints(tmp_path)
    rel.encode("utf-8")  # storable anywhere (SQLite, JSON): no lone surrogates
    assert "\\x" in rel and rel == corpus_name(Path(target), tmp_path)
    assert corpus_path(tmp_path, rel) == Path(target) and corpus_path(tmp_path, rel).is_file()
    docs, skipped = load_corpus(tmp_path)
    assert [d.path for d in docs] == [rel] and skipped == []
    assert list(file_fingerprints(tmp_path)) == [rel], "the same name on every scan"


def test_a_valid_name_holding_a_written_escape_is_its_own_file(tmp_path: Path) -> None:
    _write(tmp_path / "note\\xff.txt", "Written with a backslash.")
    rel = next(iter(file_fingerprints(tmp_path)))
    assert rel == "note\\xff.txt" and corpus_path(tmp_path, rel) == tmp_path / rel
    bad = os.fsdecode(os.fsencode(str(tmp_path)) + b"/note\xff.txt")
    Path(bad).write_text("An undecodable byte.", encoding="utf-8")
    docs, skipped = load_corpus(tmp_path)
    assert [d.text for d in docs] == ["Written with a backslash."], "the first in name order keeps the name"
    assert skipped == [Skipped("note\\xff.txt", "its name reads the same as another file's once escaped; rename it")]


def test_missing_corpus_dir(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="does not exist"):
        scan_corpus(tmp_path / "nope")
    f = _write(tmp_path / "file.txt", "x")
    with pytest.raises(CorpusError, match="not a folder"):
        load_corpus(f)


def test_empty_corpus_dir(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no \.txt, \.md, \.html, \.pdf or \.docx files"):
        load_corpus(tmp_path)
    _write(tmp_path / "notes.csv", "a,b")
    with pytest.raises(CorpusError, match=r"no \.txt"):
        load_corpus(tmp_path)


def test_every_file_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "empty.txt", "  ")
    _write(tmp_path / "bin.md", b"\x00\x00")
    with pytest.raises(CorpusError, match="every file was skipped") as info:
        load_corpus(tmp_path)
    assert "empty.txt: is empty" in str(info.value)
    assert "bin.md: looks binary" in str(info.value)


def test_seed_corpus_loads() -> None:
    docs, skipped = load_corpus(SEED_CORPUS)
    assert len(docs) == 1 and skipped == []
    (path,) = SEED_CORPUS.glob("*.txt")
    assert docs[0].path == path.name
    with open(path, encoding="utf-8", newline="") as fh:
        assert docs[0].text == fh.read()
