"""A PDF page as the reader sees it, with a quote's characters highlighted ("Open in document" for a PDF).

The page is rendered at view time from the original file; where the quote stands on it comes from
:func:`citeqa.ingest.pdf.quote_boxes`, which reads the page's text the same way indexing did, so the
boxes mark exactly the cited characters (or nothing, if the file changed since it was indexed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

from citeqa.app.render import esc
from citeqa.ingest.pdf import PdfError, open_pdf, page_label, quote_boxes
from citeqa.models import Document

RENDER_SCALE = 1.5  # 108 dpi: a US-letter page is 918 x 1188 pixels
MAX_RENDER_PIXELS = 4_000_000  # a larger page is rendered smaller (a 200-inch page took 7 GB at full scale)
FILL = (253, 224, 71, 120)  # the yellow of the text view's <mark>, see-through
EDGE = (202, 138, 4, 255)
STYLE = """
.cq-split { display: flex; flex-wrap: wrap; gap: .6em; align-items: flex-start; }
.cq-split > .cq-page, .cq-split > pre.cq-doctext { flex: 1 1 260px; min-width: 0; }
.cq-page { margin: .4em 0 0; max-height: 60vh; overflow: auto; border: 1px solid #e5e7eb; }
.cq-page { position: relative; }
.cq-page img { display: block; width: 100%; height: auto; }
.cq-page.cq-zoomed img { width: 220%; max-width: none; }
.cq-page button.cq-zoom { position: sticky; top: .3em; left: .3em; z-index: 1; font-size: .8em;
  border: 1px solid #c7d2fe; background: #eef2ff; border-radius: 6px; padding: .1em .5em; cursor: pointer; }
.cq-page figcaption { color: #6b7280; font-size: .8em; padding: .2em .4em; }
"""


def render_page_highlight(path: Path, page: int, boxes: Sequence[tuple[float, float, float, float]] = (),
                          scale: float = RENDER_SCALE) -> bytes:
    """PNG of ``page`` (1-based) of the PDF at ``path`` with ``boxes`` (fractions of the page) painted over."""
    from PIL import Image, ImageDraw

    with open_pdf(path) as pdf:
        if not 1 <= page <= len(pdf):
            raise PdfError(f"has no page {page}")
        pg = pdf[page - 1]
        try:
            width, height = pg.get_size()  # points
            scale = min(scale, (MAX_RENDER_PIXELS / max(1.0, width * height)) ** 0.5)
            img = pg.render(scale=scale).to_pil().convert("RGBA")
        except Exception as err:  # pdfium's errors on damaged or absurd pages
            raise PdfError(f"page {page} cannot be rendered ({type(err).__name__})") from None
        finally:
            pg.close()
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    w, h = img.size
    for left, top, right, bottom in boxes:
        draw.rectangle((left * w - 1, top * h - 1, right * w + 1, bottom * h + 1), fill=FILL, outline=EDGE, width=1)
    out = io.BytesIO()
    Image.alpha_composite(img, overlay).convert("RGB").save(out, "PNG")
    return out.getvalue()


def page_figure(path: Path, doc: Document, start: int, end: int) -> str:
    """HTML: the page holding ``doc.text[start]`` as an image, the quote ``[start, end)`` highlighted."""
    page = doc.page_at(start)
    if page is None:
        return ""
    try:
        found = quote_boxes(path, doc, start, end)
        png = render_page_highlight(path, page, found.boxes if found else ())
    except (OSError, PdfError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f'<figure class="cq-page cq-empty"><figcaption>page {page} cannot be shown: {esc(why)}</figcaption>' \
            "</figure>"
    note = "quote highlighted" if found and found.boxes else "the file changed since it was indexed: quote not marked"
    data = base64.b64encode(png).decode("ascii")
    top = min((box[1] for box in found.boxes), default=0.0) if found else 0.0
    label = page_label(path, page)
    name = f"p. {esc(label)} (PDF page {page})" if label else f"page {page}"
    return (
        f'<figure class="cq-page" data-page="{page}" data-marked="{len(found.boxes) if found else 0}" '
        f'data-top="{top:.4f}"><button type="button" class="cq-zoom">Zoom</button>'
        f'<img alt="{name} of {esc(doc.path)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{name} · {note}</figcaption></figure>"
    )
