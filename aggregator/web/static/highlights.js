/* Highlights on an article page: the stored highlights shown as <mark> in the text, and a
   Highlight button (with a note field) for the words the reader selects. The quotes come from
   the highlights section's data-quotes attribute; the form posts with the page's CSRF token. */
(function () {
  const body = document.querySelector('.reader-body');
  const data = document.getElementById('highlights');
  const form = document.getElementById('highlight-form');
  if (!body) return;

  // Find `quote` in the body's text, whitespace and case aside, and wrap each text node part
  // of it in <mark>.
  function markQuote(quote, id) {
    const squash = (s) => s.replace(/\s+/g, ' ').toLowerCase();
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    const nodes = [];
    let text = '';
    const map = []; // index in `text` -> [node, offset]
    let lastSpace = true;
    while (walker.nextNode()) {
      const node = walker.currentNode;
      nodes.push(node);
      const value = node.nodeValue;
      for (let i = 0; i < value.length; i++) {
        const ch = value[i];
        if (/\s/.test(ch)) {
          if (lastSpace) continue;
          text += ' ';
          lastSpace = true;
        } else {
          text += ch.toLowerCase();
          lastSpace = false;
        }
        map.push([node, i]);
      }
    }
    const target = squash(quote).trim();
    if (!target) return false;
    const at = text.indexOf(target);
    if (at < 0) return false;
    const start = map[at];
    const end = map[at + target.length - 1];
    const range = document.createRange();
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1] + 1);
    // wrap each text node within the range separately (a range may cross elements)
    const within = nodes.filter((n) => range.intersectsNode(n));
    within.forEach((node) => {
      const from = node === start[0] ? start[1] : 0;
      const to = node === end[0] ? end[1] + 1 : node.nodeValue.length;
      if (to <= from) return;
      const part = node.splitText(from);
      part.splitText(to - from);
      const mark = document.createElement('mark');
      mark.className = 'hl';
      mark.dataset.highlight = String(id);
      part.parentNode.replaceChild(mark, part);
      mark.appendChild(part);
    });
    return true;
  }

  if (data) {
    try {
      JSON.parse(data.dataset.quotes || '[]').forEach((h) => markQuote(h.quote, h.id));
    } catch (e) { /* a page without highlights, or one we cannot read: show it as it is */ }
  }

  if (!form) return;
  const quoteField = form.querySelector('input[name="quote"]');
  const noteField = form.querySelector('input[name="note"]');
  function selectedText() {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || sel.rangeCount === 0) return '';
    const range = sel.getRangeAt(0);
    if (!body.contains(range.commonAncestorContainer)) return '';
    return sel.toString().trim();
  }
  function update() {
    const text = selectedText();
    if (text) {
      quoteField.value = text;
      form.hidden = false;
      form.querySelector('.quote-preview').textContent = text.length > 140 ? text.slice(0, 140) + '…' : text;
    } else if (!form.contains(document.activeElement)) {
      form.hidden = true;
    }
  }
  document.addEventListener('selectionchange', update);
  body.addEventListener('mouseup', update);
  body.addEventListener('keyup', update);
  form.addEventListener('submit', () => { if (!quoteField.value) quoteField.value = selectedText(); });
  if (noteField) noteField.addEventListener('focus', () => { form.hidden = false; });
})();
