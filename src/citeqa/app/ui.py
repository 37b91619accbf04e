"""The Gradio chat app: layout and event wiring. The HTML comes from :mod:`citeqa.app.render`.

:class:`ChatApp` holds the handlers (plain Python, testable without a browser);
:func:`build_app` lays the page out and wires events; :func:`mount` puts it on a FastAPI app beside the REST
API and :func:`launch` serves it alone (``citeqa serve`` is :mod:`citeqa.app.server`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home (and no timeouts offline)

import gradio as gr
from gradio import utils as gradio_utils

from citeqa.app import answer_view, pageview, render
from citeqa.app.library import Library
from citeqa.app.scripts import EVIDENCE_JS, LIBRARY_JS, OPEN_JS, SCROLL_JS
from citeqa.app.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB
from citeqa.config import MODES
from citeqa.errors import CiteqaError
from citeqa.index.store import FeedbackStore
from citeqa.ingest.files import SUPPORTED, corpus_path
from citeqa.models import Answer
from citeqa.qa import QA, clean_question

log = logging.getLogger("citeqa.app.ui")
SEED_DOC = "eu_china_expert_groups.txt"
SEED_EXAMPLES = (
    "When was the EU-China IoT Advisory Group established?",
    "Who headed the EU members of the IoT Advisory Group?",
    "When was the Broadband Policy Expert Group established?",
    "When was the third and final Broadband Policy Expert Group meeting held?",
)
UPLOAD_TYPES = list(SUPPORTED)
THEME = gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "monospace"])
INTERNAL = "internal error ({}); the details are in the server log"


class ChatApp:
    """The app's handlers over one :class:`QA` and one :class:`FeedbackStore`."""

    def __init__(self, qa: QA, feedback: FeedbackStore | None = None) -> None:
        self.qa = qa
        self.feedback = feedback or FeedbackStore(qa.settings.index_dir / "feedback.sqlite")
        self.library = Library(qa, Path(gradio_utils.get_upload_folder()))  # Gradio's upload folder, this process

    @property
    def upload_dir(self) -> Path:
        return self.library.upload_dir

    @upload_dir.setter
    def upload_dir(self, folder: Path) -> None:
        self.library.upload_dir = folder

    @property
    def threshold(self) -> float:
        """The confidence an answer needs here (the settings' or the calibration's)."""
        given = self.qa.settings.min_confidence
        return self.qa.calibration.threshold if given is None else given

    def ask(self, question: str, k: int | None = None, mode: str | None = None, history: Sequence[str] = (),
            min_confidence: float | None = None) -> Answer:
        """:meth:`QA.ask` (safe while an upload rebuilds the index in another thread)."""
        return self.qa.ask(question, k=k, mode=mode, history=history, min_confidence=min_confidence)

    def api_ask(self, question: str) -> dict[str, Any]:
        """Answer ``question``: the JSON object of ``citeqa ask --json``, or ``{question, error}``."""
        try:
            return self.ask(question).to_dict()
        except CiteqaError as exc:
            return {"question": question, "error": str(exc)}
        except Exception as exc:  # an API caller gets a message, never a traceback
            log.exception("ask failed")
            return {"question": question, "error": INTERNAL.format(type(exc).__name__)}

    def texts(self, answer: Answer | None) -> dict[str, str]:
        """Full text of each document an answer cites (for line numbers)."""
        out: dict[str, str] = {}
        for c in answer.citations if answer else ():
            if c.doc not in out and (doc := self.qa.document(c.doc)) is not None:
                out[c.doc] = doc.text
        return out

    def panels(self, answer: Answer | None) -> tuple[str, str]:
        """Evidence and passages HTML for ``answer``."""
        return render.evidence_html(answer, self.texts(answer)), render.passages_html(answer)

    def respond(self, question: str, chat: list, history: list[str], answers: dict[int, Answer],
                k: float, mode: str, min_confidence: float | None = None) -> tuple:
        """Ask, append both messages to the chat; outputs: chat, box, history, answers, current, evidence, passages."""
        chat, history, answers = list(chat or []), list(history or []), dict(answers or {})
        if (question or "").strip():
            chat.append({"role": "user", "content": render.question_html(question)})
        try:
            answer: Answer | None = self.ask(question, int(k), mode, history, min_confidence)
            history.append(clean_question(question))
            content = answer_view.answer_html(answer, self.threshold if min_confidence is None else min_confidence)
        except CiteqaError as exc:
            answer, content = None, render.error_html(str(exc))
        except Exception as exc:  # the chat shows a message, never a traceback
            log.exception("ask failed")
            answer, content = None, render.error_html(INTERNAL.format(type(exc).__name__))
        chat.append({"role": "assistant", "content": content})
        if answer is None:
            return chat, "", history, answers, gr.skip(), gr.skip(), gr.skip()
        answers[len(chat) - 1] = answer
        return chat, "", history, answers, answer, *self.panels(answer)

    def select(self, answers: dict[int, Answer], evt: gr.SelectData) -> tuple:
        """Clicking an earlier answer shows its evidence."""
        answer = (answers or {}).get(evt.index if isinstance(evt.index, int) else -1)
        return (answer, *self.panels(answer)) if answer else (gr.skip(), gr.skip(), gr.skip())

    def vote(self, answers: dict[int, Answer], evt: gr.LikeData) -> None:
        """Store a 👍 (``liked=True``) or 👎 on an answer."""
        answer = (answers or {}).get(evt.index if isinstance(evt.index, int) else -1)
        if answer is None or not isinstance(evt.liked, bool):
            return
        self.feedback.add(answer, 1 if evt.liked else -1)
        gr.Info("Thanks: your feedback was saved.")

    def open_document(self, answer: Answer | None, evt: gr.EventData) -> tuple:
        """Show the full document of citation ``evt.cite`` (or passage ``evt.rank``), quote marked."""
        data = getattr(evt, "_data", None) or {}
        cite, rank = int(data.get("cite") or 0), int(data.get("rank") or 0)
        span = None
        if answer is not None:
            span = next(((c.doc, c.start, c.end) for c in answer.citations if c.n == cite), None) or next(
                ((p.chunk.doc, p.chunk.start, p.chunk.end) for p in answer.passages if p.rank == rank), None)
        if span is None:
            return gr.skip(), gr.skip()
        doc = self.qa.document(span[0])
        if doc is None:
            return render.document_html(span[0], None), gr.Tabs(selected="document")
        figure = pageview.page_figure(corpus_path(self.qa.settings.corpus_dir, doc.path), doc, span[1], span[2])
        html = render.document_html(doc.path, doc.text, span[1], span[2], doc.page_at(span[1]), figure)
        return html, gr.Tabs(selected="document")

    def documents_panel(self) -> str:
        return self.library.panel()

    def upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[str, str, None]:  # noqa: B008
        """Save uploads into the corpus, re-index incrementally; outputs: documents, status, file box."""
        return self.library.upload(files, progress)

    def remove_document(self, evt: gr.EventData) -> tuple[str, str]:
        """The Documents tab's "Remove" (``evt.path``); outputs: documents, status."""
        return self.library.remove(str((getattr(evt, "_data", None) or {}).get("path") or ""))


def default_examples(qa: QA, limit: int = 4) -> list[str]:
    """Questions drawn from what is indexed: the seed's own when it is the only document, else one per document
    from its headings (or its name)."""
    try:
        paths = [p for p, _, _ in qa.documents()]
    except CiteqaError:
        return []
    if paths == [SEED_DOC]:
        return list(SEED_EXAMPLES)
    out = []
    for path in paths[:limit]:
        titles = [t for t in qa.sections(path) if 3 <= len(t) <= 60]
        topic = titles[1] if len(titles) > 1 else titles[0] if titles else Path(path).stem.replace("_", " ")
        out.append(f"What does {Path(path).name} say about {topic.strip().rstrip('.:')}?")
    return out


def build_app(qa: QA, feedback: FeedbackStore | None = None, examples: Sequence[str] | None = None) -> gr.Blocks:
    """The chat app's page over ``qa``; only ``/ask`` is a public API endpoint."""
    app_ = ChatApp(qa, feedback)
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Blocks(title="citeqa") as demo:
        gr.Markdown("## citeqa: ask your documents\nEvery answer is a verbatim quote with a citation you can check.")
        history, answers, current = gr.State([]), gr.State({}), gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                chat = gr.Chatbot(label="Conversation", height=520, sanitize_html=True, render_markdown=True,
                                  latex_delimiters=[], allow_tags=False, feedback_options=("Like", "Dislike"),
                                  buttons=["copy"], group_consecutive_messages=False, elem_id="cq-chat",
                                  placeholder="Ask a question: the answer is a quote from the documents, with "
                                              "its source. Click an answer to see its evidence.")
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask a question about the documents…", show_label=False,
                                     scale=5, lines=1, max_lines=4, elem_id="cq-question", autofocus=True)
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="cq-ask")
                    clear = gr.Button("Clear", scale=1, min_width=70, elem_id="cq-clear")
                shown = list(examples if examples is not None else default_examples(qa))
                if shown:
                    examples_ = gr.Examples([[q] for q in shown], inputs=[box], label="Example questions "
                                            "(click one to ask it)")
            with gr.Column(scale=4):
                with gr.Tabs(selected="evidence") as tabs:
                    with gr.Tab("Evidence", id="evidence"):
                        evidence = gr.HTML(render.evidence_html(None, {}), js_on_load=EVIDENCE_JS,
                                           elem_id="cq-evidence")
                        with gr.Accordion("All retrieved passages", open=False, elem_id="cq-passages-acc"):
                            passages = gr.HTML(render.passages_html(None), js_on_load=OPEN_JS,
                                               elem_id="cq-passages")
                    with gr.Tab("Source", id="document"):
                        docview = gr.HTML('<div class="cq-docview cq-empty">Open a citation to read it in its '
                                          "document.</div>", js_on_load=SCROLL_JS, elem_id="cq-docview")
                    with gr.Tab("Documents", id="library"):
                        library = gr.HTML(elem_id="cq-library", js_on_load=LIBRARY_JS)
                        kinds = " ".join(t for t in SUPPORTED if t not in (".markdown", ".htm"))
                        files = gr.File(label=f"Add documents ({kinds}, up to {MAX_UPLOAD_MB} MB each)",
                                        file_count="multiple", file_types=UPLOAD_TYPES, type="filepath",
                                        elem_id="cq-upload")
                        status = gr.HTML("", elem_id="cq-upload-status")
                # below the evidence: on a phone, evidence comes first
                with gr.Accordion("Settings", open=False, elem_id="cq-settings"):
                    k = gr.Slider(1, 20, value=qa.settings.top_k, step=1, label="Passages to retrieve", elem_id="cq-k")
                    mode = gr.Radio(list(MODES), value=qa.settings.mode, label="Retrieval mode")
                    conf = gr.Slider(0.0, 1.0, value=round(app_.threshold, 3), step=0.01, elem_id="cq-conf",
                                     label="Answer only at or above this confidence (below: a possible answer, "
                                           "marked low confidence)")

        ask_io = {"fn": app_.respond, "inputs": [box, chat, history, answers, k, mode, conf],
                  "outputs": [chat, box, history, answers, current, evidence, passages],
                  "concurrency_limit": 4, "concurrency_id": "ask", **private}
        def fresh() -> tuple:  # a new answer: no stale document view, the evidence in front
            return ('<div class="cq-docview cq-empty">Open a citation to read it in its document.</div>',
                    gr.Tabs(selected="evidence"))

        triggers = [box.submit, ask.click]
        if shown and getattr(examples_, "load_input_event", None) is not None:
            triggers.append(examples_.load_input_event.then)  # a clicked example is asked at once
        for trigger in triggers:
            trigger(**ask_io).then(fresh, outputs=[docview, tabs], **private)
        empty = ([], "", [], {}, None, render.evidence_html(None, {}), render.passages_html(None))
        clear.click(lambda: empty, outputs=ask_io["outputs"], **private)
        chat.clear(lambda: empty[2:], outputs=ask_io["outputs"][2:], **private)
        chat.select(app_.select, [answers], [current, evidence, passages], **private)
        chat.like(app_.vote, [answers], None, **private)
        for panel in (evidence, passages):
            panel.open_doc(app_.open_document, [current], [docview, tabs], **private)
        files.upload(app_.upload, [files], [library, status, files], concurrency_limit=1, show_progress="minimal",
                     **private)
        library.remove_doc(app_.remove_document, None, [library, status], concurrency_limit=1, **private)
        demo.load(app_.documents_panel, None, library, **private)
        gr.api(app_.api_ask, api_name="ask", concurrency_limit=4, concurrency_id="ask")
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, share: bool = False,
           block: bool = True) -> Any:
    """Start the server; with ``block=False`` return at once (the server runs in a thread)."""
    return demo.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=share, prevent_thread_lock=not block, inbrowser=False,
        max_file_size=MAX_UPLOAD_BYTES, theme=THEME, css=render.STYLE + pageview.STYLE, ssr_mode=False,
        show_error=False, quiet=not block, footer_links=["api", "settings"], run_history=False,
    )


def mount(demo: gr.Blocks, app: Any) -> Any:
    """``demo`` served at ``/`` of the FastAPI ``app`` (beside its own routes), with the launch options above."""
    demo.queue(default_concurrency_limit=1)
    mounted = gr.mount_gradio_app(app, demo, path="/", max_file_size=MAX_UPLOAD_BYTES, theme=THEME,
                                  css=render.STYLE + pageview.STYLE, ssr_mode=False, show_error=False,
                                  footer_links=["api", "settings"], run_history=False)
    # Gradio checks that a file named in an event was uploaded (lies in its upload folder) only for an app it
    # launched itself; mounted, the check is skipped and any server file named by a client is copied into the
    # cache. Marking the app launched turns Gradio's check on; the upload handler checks again.
    demo.has_launched = True
    return mounted
