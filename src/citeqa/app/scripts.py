"""The chat app's small scripts (Gradio ``js_on_load`` of its HTML panels; ``element`` is the panel)."""

from __future__ import annotations

# "Open in document" buttons of the evidence and passages panels.
OPEN_JS = """element.addEventListener('click', (e) => {
  const b = e.target.closest('button.cq-open');
  if (b) trigger('open_doc', {cite: Number(b.dataset.cite || 0), rank: Number(b.dataset.rank || 0)});
});"""

# Scroll the highlighted quote of the document view into view, on load and on every new value.
SCROLL_JS = """const go = () => { const m = element.querySelector('#cq-target');
  if (m) m.scrollIntoView({block: 'center', inline: 'nearest'});
  element.querySelectorAll('figure.cq-page[data-top]').forEach((f) => {  // the page scrolled to its first box
    const img = f.querySelector('img');
    const place = () => { f.scrollTop = Math.max(0, Number(f.dataset.top) * img.clientHeight - f.clientHeight / 4); };
    if (img && img.complete) place(); else if (img) img.addEventListener('load', place, {once: true});
  }); };
element.addEventListener('click', (e) => {
  const z = e.target.closest('button.cq-zoom');
  if (!z) return;
  const f = z.closest('figure.cq-page');
  f.classList.toggle('cq-zoomed');
  z.textContent = f.classList.contains('cq-zoomed') ? 'Fit' : 'Zoom';
  setTimeout(go, 30);
});
setTimeout(go, 50); watch('value', () => setTimeout(go, 50));"""

# The evidence panel: a [n] link in the chat shows citation n here (the Evidence tab selected, the card scrolled
# into view and flashed); "Copy answer" puts the answer and its citations on the clipboard as plain text.
EVIDENCE_JS = OPEN_JS + """
const cite = (n) => {
  const tab = [...document.querySelectorAll('button[role="tab"]')].find(t => t.textContent.trim() === 'Evidence');
  if (tab && tab.getAttribute('aria-selected') !== 'true') tab.click();
  setTimeout(() => {
    const card = document.querySelector('#cq-evidence .cq-card[data-cites~="' + n + '"]');
    if (!card) return;
    card.scrollIntoView({block: 'center', inline: 'nearest'});
    card.classList.remove('cq-flash'); void card.offsetWidth; card.classList.add('cq-flash');
  }, 60);
};
if (!window.cqCiteLinks) {
  window.cqCiteLinks = true;
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a.cq-ref-link, a[href^="#cq-cite-"]');
    if (!a) return;
    e.preventDefault(); e.stopPropagation();
    cite(a.dataset.cite || (a.getAttribute('href') || '').replace('#cq-cite-', ''));
  }, true);
}
element.addEventListener('click', (e) => {
  const b = e.target.closest('button.cq-copy');
  if (!b) return;
  const done = () => { b.textContent = 'Copied'; setTimeout(() => { b.textContent = 'Copy answer'; }, 1500); };
  navigator.clipboard.writeText(b.dataset.text || '').then(done, () => { b.textContent = 'Copy failed'; });
});"""

# The Documents tab: "Remove" asks first, then Python moves the file out of the corpus and re-indexes.
LIBRARY_JS = """element.addEventListener('click', (e) => {
  const b = e.target.closest('button.cq-remove');
  if (!b) return;
  const path = b.dataset.path || '';
  if (window.confirm('Remove ' + path + ' from the corpus? The file is kept in .citeqa-removed/ of the corpus '
                     + 'folder, and the index is rebuilt without it.')) trigger('remove_doc', {path: path});
});"""
