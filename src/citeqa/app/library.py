"""The Documents tab's work: the list of indexed documents, uploads into the corpus, and removing a document.

Uploads keep the rules of :mod:`citeqa.app.uploads` (only files Gradio received, safe names, never an
overwrite, the same bytes never stored twice). A removed document is not deleted: it is moved into the corpus
folder's hidden ``.citeqa-removed`` folder (the corpus scan skips hidden names), so nothing is lost, and the
index is rebuilt without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from citeqa.app import render
from citeqa.app.uploads import check_uploaded, discard_upload, save_upload
from citeqa.errors import CiteqaError
from citeqa.ingest.files import corpus_path
from citeqa.qa import QA

REMOVED = ".citeqa-removed"


class Library:
    """The corpus folder of ``qa`` as the app manages it; ``upload_dir`` is where the web server keeps uploads."""

    def __init__(self, qa: QA, upload_dir: Path) -> None:
        self.qa, self.upload_dir = qa, upload_dir

    def panel(self) -> str:
        """The list of indexed documents with their sizes."""
        try:
            docs = self.qa.documents()
        except CiteqaError as exc:
            return render.error_html(str(exc))
        sizes = {}
        for path, _, _ in docs:
            try:
                sizes[path] = corpus_path(self.qa.settings.corpus_dir, path).stat().st_size
            except OSError:
                pass
        return render.documents_html(docs, sizes)

    def known_files(self) -> dict[str, str]:
        """sha256 → path of the indexed files (uploads of the same bytes under another name are not stored)."""
        try:
            files = self.qa.index.manifest.get("files", {})
        except CiteqaError:
            return {}
        return {meta["sha256"]: path for path, meta in files.items() if isinstance(meta, dict) and "sha256" in meta}

    def upload(self, files: list[str] | None, progress: Callable[..., Any]) -> tuple[str, str, None]:
        """Save uploads into the corpus, re-index incrementally; outputs: documents, status, file box."""
        notes: list[str] = []
        added = 0
        for f in files or []:
            try:
                source = check_uploaded(Path(f), self.upload_dir)  # a client may name any server path
                saved = save_upload(source, self.qa.settings.corpus_dir, original_name=Path(f).name,
                                    known=self.known_files(), timeout_s=self.qa.settings.file_timeout_s)
                added += saved.new
                notes.append(f"{'Added' if saved.new else 'Already present:'} {render.esc(saved.rel)}")
            except CiteqaError as exc:
                notes.append(render.error_html(str(exc)))
            finally:
                discard_upload(Path(f), self.upload_dir)
        if added:
            notes += self._rebuild(progress)
        return self.panel(), _status(notes or ["Nothing uploaded."]), None

    def remove(self, path: str, progress: Callable[..., Any] | None = None) -> tuple[str, str]:
        """Move the indexed document ``path`` out of the corpus (into ``.citeqa-removed``) and re-index."""
        root = self.qa.settings.corpus_dir.resolve()
        indexed = {p for p, _, _ in self.qa.documents()} if path else set()
        target = corpus_path(self.qa.settings.corpus_dir, path).resolve() if path in indexed else None
        if target is None or root not in target.parents or not target.is_file():
            return self.panel(), _status([render.error_html(f"{path or 'that document'} is not an indexed "
                                                            "document of this corpus")])
        keep = root / REMOVED / f"{time.strftime('%Y%m%d-%H%M%S')}-{target.name}"
        try:
            keep.parent.mkdir(exist_ok=True)
            target.rename(keep)
        except OSError as exc:
            return self.panel(), _status([render.error_html(f"{path} could not be removed: {exc.strerror}")])
        notes = [f"Removed {render.esc(path)} (kept in {render.esc(REMOVED)}/ of the corpus folder)"]
        notes += self._rebuild(progress)
        return self.panel(), _status(notes)

    def _rebuild(self, progress: Callable[..., Any] | None) -> list[str]:
        def report_progress(what: str, done: int, total: int) -> None:
            if progress is not None:
                progress((done, total), desc=f"Embedding {what}", unit=what)

        try:
            report = self.qa.build(report_progress)
        except CiteqaError as exc:
            return [render.error_html(f"re-indexing failed: {exc}")]
        return [f"Index updated: {report.documents} documents, {report.chunks} passages "
                f"({report.embedded} newly embedded) in {report.seconds:.1f} s.",
                *(f"Skipped {render.esc(p)}: {render.esc(r)}" for p, r in report.skipped)]


def _status(notes: list[str]) -> str:
    return '<div class="cq-status">' + "".join(f"<div>{n}</div>" for n in notes) + "</div>"
