"""The chat app in headless Chromium, with the real model over a copy of the seed corpus plus hostile documents.

Needs Debian's chromium at /usr/bin/chromium (``make browser-deps``); skipped without it.
Screenshots go to artifacts/screenshots/; set CITEQA_UPDATE_SCREENSHOT=1 to refresh docs/screenshot.png.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from citeqa.config import Settings
from citeqa.qa import QA
from pdfs import GUIDE_OUTLINE, GUIDE_PAGES, pages_pdf

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
IOT_Q = "When was the EU-China IoT Advisory Group established?"
IOT_QUOTE = "The EU-China IoT Advisory Group was established in February 2011."
XSS_MD = """# Evil <script>alert('xss-heading')</script> heading

The secret launch code is <img src=x onerror=alert('xss-img')> and **bold** [link](javascript:alert('xss-link')) \
${alert('xss-tpl')} {{x}}.

<script>alert('xss-body')</script>

The xylophone storage room opened in <b>1999</b> <svg onload=alert('xss-svg')></svg>.
"""
XSS_HTML = "<html><body><h1>Escaped markup</h1><p>The launch code reads &lt;img src=x onerror=alert('xss-html')&gt; " \
           "in the manual.</p><script>alert('xss-script')</script></body></html>"
INJECTED = "img[src='x'], img[onerror], svg[onload], a[href^='javascript'], iframe"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),  # Gradio's use of pandas
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (run `make browser-deps`)"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Server:
    url: str
    settings: Settings
    qa: QA


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from citeqa.app.ui import build_app, launch

    tmp = tmp_path_factory.mktemp("browser")
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    (corpus / "xss.md").write_text(XSS_MD, encoding="utf-8")
    (corpus / "xss.html").write_text(XSS_HTML, encoding="utf-8")
    (corpus / "guide.pdf").write_bytes(pages_pdf(GUIDE_PAGES, GUIDE_OUTLINE))
    tall = [f"Line {i} of the survey notes, nothing to see here." for i in range(44)]
    (corpus / "survey.pdf").write_bytes(pages_pdf([[*tall, "The survey boat Petrel anchored off Skerry in 1888."]],
                                                  size=(612, 1600)))
    settings = Settings(corpus_dir=corpus, index_dir=tmp / "index")
    qa = QA(settings)
    qa.build()
    demo = build_app(qa)
    port = _free_port()
    launch(demo, "127.0.0.1", port, block=False)
    try:
        yield Server(f"http://127.0.0.1:{port}/", settings, qa)
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM,
                               args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture()
def dialogs() -> list[str]:
    """Messages of the alert/confirm/prompt dialogs the page opened (there must be none)."""
    return []


@pytest.fixture()
def page(browser: Browser, server: Server, dialogs: list[str]) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = ctx.new_page()
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.goto(server.url)
    pg.wait_for_selector("#cq-question textarea")
    yield pg
    ctx.close()


def shot(pg: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.mouse.move(1, 1)  # no hover highlight in the picture
    pg.wait_for_timeout(200)
    pg.screenshot(path=str(path))
    return path


def ask(pg: Page, question: str) -> Locator:
    """Type ``question``, press Ask, wait for the new bot message and return it."""
    rows = pg.locator("#cq-chat .bot-row")
    n = rows.count()
    pg.fill("#cq-question textarea", question)
    pg.click("#cq-ask")
    pg.wait_for_function("n => document.querySelectorAll('#cq-chat .bot-row').length > n", arg=n,
                         timeout=60_000)
    pg.wait_for_timeout(300)  # let the evidence panels settle
    return rows.last


def set_slider(pg: Page, elem: str, value: float) -> None:
    """Type ``value`` into a Gradio slider's number box and make sure it holds.

    Just after an accordion opens, the slider can re-apply its first value once and
    overwrite what was typed a moment before (seen in CI), so the value is typed
    again until it has held for half a second.
    """
    number, slider = pg.locator(f"{elem} input[type=number]"), pg.locator(f"{elem} input[type=range]")
    for _ in range(10):
        number.fill(str(value))
        number.press("Tab")
        pg.wait_for_timeout(500)
        if slider.input_value() == number.input_value() == str(value):
            return
    raise AssertionError(f"{elem} did not keep {value}: shows {slider.input_value()}")


def open_settings(pg: Page, elem: str) -> None:
    """Open citeqa's Settings accordion (by its id: Gradio's footer has a "Settings" link of its own, which a
    click by text alone hit while the page was still rendering) until ``elem``'s number box shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = pg.locator(f"{elem} input[type=number]")
    for _ in range(6):
        if box.is_visible():
            return
        pg.locator("#cq-settings").get_by_role("button", name=re.compile("Settings")).click()
        try:
            box.wait_for(state="visible", timeout=5_000)
        except PlaywrightTimeout:
            continue
    box.wait_for(state="visible", timeout=5_000)


def open_passages(pg: Page) -> None:
    """Expand the "All retrieved passages" accordion."""
    pg.locator("#cq-passages-acc").get_by_role("button", name=re.compile("All retrieved passages")).click()
    pg.locator("#cq-passages").wait_for()


def assert_nothing_injected(pg: Page, dialogs: list[str]) -> None:
    pg.wait_for_timeout(500)  # give an onerror/onload handler time to fire
    assert dialogs == []
    assert pg.locator(INJECTED).count() == 0
    scripts = pg.evaluate("() => [...document.scripts].map(s => s.textContent).join('\\n')")
    assert "xss-" not in scripts


def test_answer_with_citation_bold_span_confidence_and_evidence(page: Page) -> None:
    msg = ask(page, IOT_Q)
    text = msg.inner_text()
    assert "February 2011" in text and "[1]" in text and "confidence" in text
    assert msg.locator("mark.cq-span").count() == 0  # no short-answer mark until a span model earns it
    mark = page.locator("#cq-evidence mark.cq-target")
    assert mark.count() == 1 and mark.inner_text().strip() == IOT_QUOTE
    evidence = page.locator("#cq-evidence").inner_text()
    assert "eu_china_expert_groups.txt" in evidence and "EU-China IoT Advisory Group" in evidence
    assert "line 25" in evidence or "lines " in evidence
    path = shot(page, "answer")
    if os.environ.get("CITEQA_UPDATE_SCREENSHOT"):
        save_small_png(path, ROOT / "docs" / "screenshot.png")


def test_open_in_document_highlights_and_scrolls_to_the_quote(page: Page) -> None:
    ask(page, "When was the third and final Broadband Policy Expert Group meeting held?")
    quote = page.locator("#cq-evidence mark.cq-target").first.inner_text()
    page.click("#cq-evidence button.cq-open")
    target = page.locator("#cq-docview mark#cq-target")
    target.wait_for(timeout=10_000)
    assert target.inner_text() == quote
    page.wait_for_timeout(500)
    geometry = page.evaluate("""() => {
        const m = document.querySelector('#cq-docview mark#cq-target'), box = m.closest('pre');
        const r = m.getBoundingClientRect(), b = box.getBoundingClientRect();
        return {scrolled: box.scrollTop, below: m.offsetTop - box.offsetTop > box.clientHeight,
                inBox: r.top >= b.top - 1 && r.bottom <= b.bottom + 1,
                inView: r.top >= 0 && r.bottom <= window.innerHeight};
    }""")
    assert geometry["inBox"] and geometry["inView"], geometry
    assert geometry["scrolled"] > 0 or not geometry["below"], geometry
    assert "EU-China expert groups" in page.locator("#cq-docview pre").inner_text()
    shot(page, "document-view")


def test_open_in_document_of_a_pdf_shows_the_page_with_the_quote_marked(page: Page) -> None:
    msg = ask(page, "Who kept the light of the lighthouse from 1931 to 1960?")
    assert "Mirela Voss" in msg.inner_text() and "guide.pdf — 1.1 Keepers — p. 3" in msg.inner_text()
    assert "p. 3, characters" in page.locator("#cq-evidence").inner_text()
    page.locator("#cq-evidence .cq-card", has_text="guide.pdf").locator("button.cq-open").first.click()
    img = page.locator("#cq-docview figure.cq-page img")
    img.wait_for(timeout=10_000)
    page.wait_for_function("() => document.querySelector('#cq-docview figure.cq-page img').naturalWidth > 0")
    assert page.locator("#cq-docview figure.cq-page").get_attribute("data-page") == "3"
    assert page.locator("#cq-docview figure.cq-page").get_attribute("data-marked") == "1"
    assert "Mirela Voss" in page.locator("#cq-docview mark#cq-target").inner_text(), "the text view beside it"
    marked = page.evaluate("""() => {  // count the highlight's yellow pixels of the page image as shown
        const im = document.querySelector('#cq-docview figure.cq-page img');
        const c = document.createElement('canvas');
        c.width = im.naturalWidth; c.height = im.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(im, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 180 && d[i] - d[i + 2] > 60) n++;
        return n;
    }""")
    assert marked > 500
    box = img.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 250, "the page is shown at a readable size"
    shot(page, "pdf-page")


def test_followup_question_uses_the_conversation(page: Page) -> None:
    ask(page, "Tell me about the IoT Advisory Group")
    msg = ask(page, "When was it set up?")
    open_passages(page)
    top = page.locator("#cq-passages summary").first.inner_text(timeout=10_000)
    assert "EU-China IoT Advisory Group" in top, "the earlier question did not reach retrieval"
    shot(page, "follow-up")
    assert "February 2011" in msg.locator("blockquote.cq-quote").inner_text()
    assert "February 2011" in page.locator("#cq-evidence mark").inner_text()


def test_unanswerable_question_abstains_with_closest_passages(page: Page) -> None:
    msg = ask(page, "What is the capital of Australia?")
    text = msg.inner_text()
    assert "The documents don't say" in text and "Closest passages" in text
    assert page.locator("#cq-evidence mark").count() == 0
    shot(page, "abstention")


def test_bad_input_is_a_chat_message(page: Page) -> None:
    msg = ask(page, "?!")
    assert "the question has no words in it" in msg.inner_text()
    assert "Traceback" not in page.content()


def test_passages_accordion_examples_settings_and_clear(page: Page, server: Server) -> None:
    question = "Who headed the EU members of the IoT Advisory Group?"
    from citeqa.app.ui import default_examples

    asked = default_examples(server.qa)[0]  # examples come from the indexed documents (headings, names)
    page.get_by_text(asked[:45]).first.click()  # and an example is asked at once (long ones show truncated)
    page.wait_for_selector("#cq-chat .bot-row", timeout=60_000)
    assert asked in page.locator("#cq-chat").inner_text()
    open_settings(page, "#cq-k")
    set_slider(page, "#cq-k", 3)
    page.get_by_label("bm25").check()
    sync_api.expect(page.get_by_label("bm25")).to_be_checked()
    ask(page, question)
    open_passages(page)
    passages = page.locator("#cq-passages")
    passages.locator("details").first.wait_for()
    text = passages.inner_text()
    assert "fused" in text and "dense" in text and "BM25" in text
    expected = server.qa.ask(question, k=3, mode="bm25")
    sync_api.expect(passages.locator("summary")).to_have_count(len(expected.passages))
    shown = [s.inner_text().split(" fused ")[0] for s in passages.locator("summary").all()]
    assert shown == [f"#{p.rank} {p.chunk.doc} — {p.chunk.section}" for p in expected.passages]
    passages.locator("summary").first.click()
    assert passages.locator("details").first.locator("button.cq-open").is_visible()
    shot(page, "passages")
    page.click("#cq-clear")
    page.wait_for_function("() => !document.querySelector('#cq-chat .bot-row')")
    assert "Ask a question" in page.locator("#cq-evidence").inner_text()


def test_feedback_is_stored(page: Page, server: Server) -> None:
    msg = ask(page, IOT_Q)
    msg.hover()
    page.locator("#cq-chat button[aria-label='Dislike']").last.click()
    db = server.settings.index_dir / "feedback.sqlite"
    for _ in range(50):
        rows = sqlite3.connect(db).execute("SELECT vote, question, answer, citations FROM feedback").fetchall()
        if any(r[1] == IOT_Q and r[0] == -1 for r in rows):
            break
        time.sleep(0.1)
    row = next(r for r in rows if r[1] == IOT_Q and r[0] == -1)
    assert "February 2011" in row[2] and "eu_china_expert_groups.txt" in row[3]


def test_hostile_documents_show_as_text_and_run_nothing(page: Page, dialogs: list[str]) -> None:
    msg = ask(page, "What is the secret launch code?")
    open_passages(page)
    assert_nothing_injected(page, dialogs)
    shown = msg.inner_text() + page.locator("#cq-evidence").inner_text()
    shown += page.locator("#cq-passages").inner_text(timeout=10_000)
    assert "<img src=x onerror=alert('xss-img')>" in shown or "onerror=alert('xss-html')" in shown
    rank = page.locator("#cq-passages details", has_text="xss.md").first
    rank.locator("summary").click()
    rank.locator("button.cq-open").click()
    view = page.locator("#cq-docview pre")
    view.wait_for(timeout=10_000)
    assert "<script>alert('xss-body')</script>" in view.inner_text()
    assert "**bold** [link](javascript:alert('xss-link'))" in view.inner_text()
    assert_nothing_injected(page, dialogs)
    page.get_by_role("tab", name="Documents").click()
    assert "xss.md" in page.locator("#cq-library").inner_text(timeout=10_000)
    shot(page, "xss")


def test_upload_then_ask_about_it(page: Page, tmp_path: Path, server: Server, dialogs: list[str]) -> None:
    src = tmp_path / "lund museum.txt"
    src.write_text("The Xylophone Museum of Lund opened its doors in March 1987 with forty instruments.\n"
                   "Its first curator was Ingrid Holm.\n", encoding="utf-8")
    evil = tmp_path / "..evil name<img src=x onerror=alert(9)>.txt"
    evil.write_text("Harmless text about the <img src=x onerror=alert('xss-upload')> tag.\n", encoding="utf-8")
    page.get_by_role("tab", name="Documents").click()
    page.set_input_files("#cq-upload input[type=file]", [str(src), str(evil)])
    status = page.locator("#cq-upload-status")
    status.get_by_text("Index updated").wait_for(timeout=120_000)
    assert "Added lund museum.txt" in status.inner_text()
    assert (server.settings.corpus_dir / "lund museum.txt").exists()
    assert "lund museum.txt" in page.locator("#cq-library").inner_text()
    assert_nothing_injected(page, dialogs)
    shot(page, "upload")
    msg = ask(page, "When did the Xylophone Museum of Lund open?")
    assert "lund museum.txt" in msg.inner_text() and "1987" in msg.inner_text()


def save_small_png(src: Path, dst: Path, limit: int = 300_000) -> None:
    """Copy a screenshot, palette-quantised if needed to stay under ``limit`` bytes."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    for colors in (256, 128, 64):
        buf = io.BytesIO()
        img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
        if buf.tell() <= limit:
            break
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(buf.getvalue())


# --- the checker's workbench (#18) ---------------------------------------------------------------------------


def test_a_topic_change_after_a_follow_up_is_answered_from_the_new_topic(page: Page) -> None:
    ask(page, "Tell me about the IoT Advisory Group")
    follow = ask(page, "When was it set up?")
    assert "Read as a follow-up to" in follow.inner_text() and "February 2011" in follow.inner_text()
    other = ask(page, "When was the Broadband Policy Expert Group established?")
    assert "December 2012" in other.inner_text() and "Read as a follow-up" not in other.inner_text()
    assert "Broadband" in page.locator("#cq-evidence .cq-for").inner_text()  # the panel follows the new answer


def test_quotes_from_different_places_are_shown_apart(page: Page, server: Server) -> None:
    from citeqa.eval.evaluate import load_gold

    for item in load_gold(ROOT / "tests" / "data" / "seed_qa.jsonl"):
        got = server.qa.ask(item.q)
        if len(got.citations) >= 2 and not got.abstained:
            break
    else:  # a model change can make every answer one quote: then pick a question that gets two
        raise AssertionError("no seed question is answered with two quotes: choose one for this test")
    msg = ask(page, item.q)
    blocks = msg.locator("blockquote.cq-quote")
    assert blocks.count() == len(got.citations)
    for c, block in zip(got.citations, blocks.all()):
        assert " ".join(c.quote.split())[:40] in " ".join(block.inner_text().split())
        assert f"[{c.n}]" in block.inner_text()


def test_a_tentative_answer_shows_its_evidence_and_the_confidence_control(page: Page) -> None:
    open_settings(page, "#cq-conf")
    set_slider(page, "#cq-conf", 0.99)  # typed until it holds (an opening accordion can reset it once)
    msg = ask(page, IOT_Q)
    assert "Possible answer (low confidence)" in msg.inner_text()
    assert "under the answer threshold 0.99" in msg.inner_text()
    mark = page.locator("#cq-evidence mark.cq-target")
    assert mark.count() >= 1 and "February 2011" in mark.first.inner_text()
    shot(page, "tentative")


def test_a_citation_marker_opens_its_citation(page: Page) -> None:
    msg = ask(page, IOT_Q)
    page.locator("#cq-evidence button.cq-open").first.click()
    page.locator("#cq-docview mark#cq-target").wait_for(timeout=10_000)  # the Source tab is in front
    msg.locator("a.cq-ref-link, a[href^='#cq-cite-']").first.click()
    card = page.locator("#cq-evidence .cq-card").first
    card.wait_for(state="visible", timeout=10_000)
    assert "February 2011" in card.inner_text()
    assert page.evaluate("() => { const r = document.querySelector('#cq-evidence .cq-card').getBoundingClientRect();"
                         " return r.top < window.innerHeight && r.bottom > 0; }")


def test_the_pdf_page_is_scrolled_to_the_quote(page: Page) -> None:
    ask(page, "Where did the survey boat Petrel anchor in 1888?")
    page.locator("#cq-evidence .cq-card", has_text="survey.pdf").locator("button.cq-open").first.click()
    page.wait_for_function("() => { const i = document.querySelector('#cq-docview figure.cq-page img');"
                           " return i && i.naturalWidth > 0; }", timeout=15_000)
    page.wait_for_timeout(400)
    where = page.evaluate("""() => {
        const f = document.querySelector('#cq-docview figure.cq-page'), im = f.querySelector('img');
        const y = Number(f.dataset.top) * im.clientHeight - f.scrollTop;
        return {y: y, view: f.clientHeight, scrolled: f.scrollTop, top: Number(f.dataset.top)};
    }""")
    assert where["top"] > 0.4 and where["scrolled"] > 0, where  # the quote is halfway down a tall page
    assert 0 <= where["y"] <= where["view"], where  # the first box is inside the visible part
    page.locator("#cq-docview button.cq-zoom").click()
    assert "cq-zoomed" in (page.locator("#cq-docview figure.cq-page").get_attribute("class") or "")
    shot(page, "pdf-scrolled")


def test_copy_gives_plain_text_with_citations(browser: Browser, server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, permissions=["clipboard-read",
                                                                                  "clipboard-write"])
    pg = ctx.new_page()
    pg.goto(server.url)
    pg.wait_for_selector("#cq-question textarea")
    ask(pg, IOT_Q)
    pg.locator("#cq-evidence button.cq-copy").click()
    pg.wait_for_timeout(300)
    text = pg.evaluate("() => navigator.clipboard.readText()")
    ctx.close()
    assert IOT_QUOTE in text and "[1] eu_china_expert_groups.txt, EU-China IoT Advisory Group, line" in text
    assert "<" not in text and "&#" not in text


def test_phone_layout_shows_the_evidence_before_the_settings(browser: Browser, server: Server) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                              device_scale_factor=2)
    pg = ctx.new_page()
    pg.goto(server.url)
    pg.wait_for_selector("#cq-question textarea")
    msg = ask(pg, IOT_Q)
    ys = pg.evaluate("""() => ({evidence: document.querySelector('#cq-evidence').getBoundingClientRect().top,
        settings: document.querySelector('#cq-settings').getBoundingClientRect().top})""")
    assert ys["evidence"] < ys["settings"], ys
    for tab in ("Evidence", "Source", "Documents"):  # every tab reachable, none behind an overflow menu
        assert pg.get_by_role("tab", name=tab).is_visible(), tab
    msg.locator("a.cq-ref-link, a[href^='#cq-cite-']").first.tap()
    pg.wait_for_timeout(600)
    assert pg.evaluate("() => { const r = document.querySelector('#cq-evidence .cq-card').getBoundingClientRect();"
                       " return r.top < window.innerHeight && r.bottom > 0; }"), "the evidence is a tap away"
    path = shot(pg, "phone")
    if os.environ.get("CITEQA_UPDATE_SCREENSHOT"):
        save_small_png(path, ROOT / "docs" / "screenshot-phone.png")
    ctx.close()
