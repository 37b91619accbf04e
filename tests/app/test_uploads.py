"""uploads.py: safe names, type and size limits, no overwrite, nothing outside the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citeqa.app.uploads import MAX_NAME_CHARS, safe_filename, save_upload
from citeqa.errors import InputError
from citeqa.ingest.files import SUPPORTED
from docxs import handbook_docx
from pdfs import text_pdf


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/abs/path/notes.md", "notes.md"),
        ("C:\\Users\\x\\evil.html", "evil.html"),
        (".hidden.md", "hidden.md"),
        ("...txt.txt", "txt.txt"),
        ("a..b.txt", "a.b.txt"),
        ("-rf.txt", "rf.txt"),
        ("Report FINAL.PDF", "Report FINAL.pdf"),
        ("ｆｕｌｌｗｉｄｔｈ.txt", "fullwidth.txt"),
        ("Straße 東京.md", "Straße 東京.md"),
        ("a<b>|c?*:d.txt", "a_b_c_d.txt"),
        ("tab\there\x00nul.txt", "tab_here_nul.txt"),
        ("CON.txt", "CON_.txt"),
        ("..txt", "upload.txt"),
        ("résumé.md", "résumé.md"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["evil.exe", "noext", "x.txt.sh", "../..", "", "archive.tar.gz", ".bashrc"])
def test_safe_filename_refuses_unsupported_types(name: str) -> None:
    with pytest.raises(InputError, match="unsupported type"):
        safe_filename(name)


@given(st.text(min_size=0, max_size=300), st.sampled_from(SUPPORTED))
def test_safe_filename_is_always_a_plain_visible_name(stem: str, ext: str) -> None:
    out = safe_filename(stem + ext)
    assert "/" not in out and "\\" not in out and ".." not in out
    assert not out.startswith((".", "-", " ")) and out.endswith(ext)
    assert len(out) <= MAX_NAME_CHARS and out == out.strip()
    assert all(ch.isprintable() for ch in out)


def _upload(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / "incoming" / str(len(list(tmp_path.glob("incoming/*"))))
    folder.mkdir(parents=True)
    path = folder / name
    path.write_bytes(data)
    return path


def test_save_stores_under_corpus_with_safe_name(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    src = _upload(tmp_path, "x.txt", b"The moon is made of cheese.")
    saved = save_upload(src, corpus, original_name="../../escape/../moon facts.txt")
    assert saved.new and saved.rel == "moon facts.txt"
    assert saved.path == (corpus / "moon facts.txt").resolve()
    assert saved.path.read_bytes() == b"The moon is made of cheese."
    assert not list(corpus.glob(".upload-*")), "the temporary file is removed"
    assert not (tmp_path / "escape").exists()


def test_never_overwrites_a_different_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("old notes")
    (corpus / "notes-1.md").write_text("older notes")
    saved = save_upload(_upload(tmp_path, "notes.md", b"new notes"), corpus)
    assert saved.rel == "notes-2.md" and saved.new
    assert (corpus / "notes.md").read_text() == "old notes"
    assert (corpus / "notes-1.md").read_text() == "older notes"


def test_same_bytes_same_name_is_not_duplicated(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    first = save_upload(_upload(tmp_path, "a.txt", b"same text"), corpus)
    again = save_upload(_upload(tmp_path, "a.txt", b"same text"), corpus)
    assert first.new and not again.new and again.rel == "a.txt"
    assert sorted(p.name for p in corpus.iterdir()) == ["a.txt"]


def test_symlink_at_target_name_is_not_followed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("do not touch")
    (corpus / "a.txt").symlink_to(outside)
    saved = save_upload(_upload(tmp_path, "a.txt", b"do not touch"), corpus)
    assert saved.rel == "a-1.txt" and saved.new
    assert outside.read_text() == "do not touch"


def test_size_limit_and_empty_file(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    with pytest.raises(InputError, match="upload limit is"):
        save_upload(_upload(tmp_path, "big.txt", b"x" * 2000), corpus, max_bytes=1000)
    with pytest.raises(InputError, match="empty"):
        save_upload(_upload(tmp_path, "empty.txt", b""), corpus)
    assert not corpus.exists() or not any(corpus.iterdir())


def test_unreadable_documents_are_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    with pytest.raises(InputError, match="binary"):
        save_upload(_upload(tmp_path, "bin.txt", b"\x00\x01\x02" * 100), corpus)
    with pytest.raises(InputError, match=r"not a readable PDF|no text layer"):
        save_upload(_upload(tmp_path, "fake.pdf", b"%PDF-1.4 not really a pdf"), corpus)
    with pytest.raises(InputError, match=r"fake\.docx is not a readable Word file .*; it was not added"):
        save_upload(_upload(tmp_path, "fake.docx", b"PK\x03\x04 not really a zip"), corpus)
    with pytest.raises(InputError, match="unsupported type"):
        save_upload(_upload(tmp_path, "run.sh", b"echo hi"), corpus)
    assert not any(p for p in corpus.iterdir() if not p.name.startswith("."))
    assert not any(corpus.iterdir()), "no temporary file is left behind"


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        save_upload(tmp_path / "gone.txt", tmp_path / "corpus")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Guide.PDF", text_pdf("The lighthouse was painted red in 1921.")),
        ("page.html", b"<html><body><h1>Lighthouse</h1><p>Painted red in 1921.</p></body></html>"),
        ("notes.md", "# Lighthouse\n\nPainted red in 1921. Über-careful.\n".encode()),
        ("Harbour Handbook.docx", handbook_docx()),
    ],
)
def test_each_supported_type_is_stored(tmp_path: Path, name: str, data: bytes) -> None:
    saved = save_upload(_upload(tmp_path, name, data), tmp_path / "corpus")
    assert saved.new and saved.path.read_bytes() == data
    assert saved.rel == name[: name.rindex(".")] + name[name.rindex(".") :].lower()


def test_the_same_bytes_under_another_name_are_not_stored_again(tmp_path: Path) -> None:
    from citeqa.models import sha256_hex

    corpus = tmp_path / "corpus"
    first = save_upload(_upload(tmp_path, "report.txt", b"Same bytes.\n"), corpus)
    again = save_upload(_upload(tmp_path, "copy of report.txt", b"Same bytes.\n"), corpus,
                        known={sha256_hex(b"Same bytes.\n"): first.rel})
    assert again.rel == "report.txt" and not again.new
    assert sorted(p.name for p in corpus.iterdir()) == ["report.txt"]
