/* The reading dashboard: hand-drawn SVG charts from the JSON block the page carries.
   No library, no inline script (the CSP forbids it); text goes in with textContent only. */
(function () {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#3b6ea5', '#e08a3c', '#4f9d69', '#b5527a', '#8a6fbf', '#c9a93b', '#5aa3a8', '#9b9b9b'];
  const STATUS_COLOURS = { ok: '#4f9d69', failing: '#e08a3c', gone: '#c0392b', paused: '#9b9b9b' };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function text(parent, x, y, content, attrs) {
    const t = el('text', Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }
  function svg(container, width, height) {
    const s = el('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img' });
    container.appendChild(s);
    return s;
  }
  function empty(container, message) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = message;
    container.appendChild(p);
  }
  function legend(container, names, colours) {
    const ul = document.createElement('ul');
    ul.className = 'legend';
    names.forEach((name, i) => {
      const li = document.createElement('li');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = colours[i % colours.length];
      li.appendChild(sw);
      li.appendChild(document.createTextNode(name));
      ul.appendChild(li);
    });
    container.appendChild(ul);
  }
  function weekLabel(iso) {
    const d = new Date(iso + 'T00:00:00Z');
    return d.toLocaleDateString(undefined, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  }
  function allWeeks(keys) {
    // Every Monday from the first week to the last, so quiet weeks show as gaps.
    if (!keys.length) return [];
    const sorted = keys.slice().sort();
    const out = [];
    const end = new Date(sorted[sorted.length - 1] + 'T00:00:00Z');
    for (let d = new Date(sorted[0] + 'T00:00:00Z'); d <= end; d.setUTCDate(d.getUTCDate() + 7)) {
      out.push(d.toISOString().slice(0, 10));
    }
    return out;
  }
  /* rows: [{week, <key>, n}] -> stacked bars per week, top `limit` series, the rest as Other. */
  function stacked(container, rows, key, limit, options) {
    options = options || {};
    if (!rows.length) { empty(container, 'Nothing to show yet.'); return; }
    const totals = {};
    rows.forEach((r) => { totals[r[key]] = (totals[r[key]] || 0) + r.n; });
    let names = Object.keys(totals).sort((a, b) => totals[b] - totals[a]);
    const top = names.slice(0, limit);
    const hasOther = names.length > limit;
    if (hasOther) top.push('Other');
    const weeks = allWeeks(Array.from(new Set(rows.map((r) => r.week))));
    const table = {};
    weeks.forEach((w) => { table[w] = {}; });
    rows.forEach((r) => {
      const name = top.includes(r[key]) ? r[key] : 'Other';
      if (table[r.week]) table[r.week][name] = (table[r.week][name] || 0) + r.n;
    });
    const colours = options.colours || PALETTE;
    const W = 720, H = 240, left = 34, bottom = 28, top_ = 10;
    const max = Math.max(1, ...weeks.map((w) => Object.values(table[w]).reduce((a, b) => a + b, 0)));
    const s = svg(container, W, H);
    const plotH = H - bottom - top_;
    const slot = (W - left - 8) / Math.max(weeks.length, 1);
    const barW = Math.max(2, Math.min(40, slot * 0.7));
    // Grid lines and the scale.
    (max >= 4 ? [0, 0.5, 1] : [0, 1]).forEach((f) => {
      const y = top_ + plotH * (1 - f);
      el('line', { x1: left, x2: W - 4, y1: y, y2: y, class: 'grid' }, s);
      text(s, left - 6, y + 4, String(Math.round(max * f)), { 'text-anchor': 'end', class: 'axis' });
    });
    weeks.forEach((w, i) => {
      let y = top_ + plotH;
      const x = left + slot * i + (slot - barW) / 2;
      top.forEach((name, j) => {
        const n = table[w][name] || 0;
        if (!n) return;
        const h = plotH * n / max;
        y -= h;
        const rect = el('rect', { x: x, y: y, width: barW, height: h, fill: colours[j % colours.length], rx: 1.5 }, s);
        const title = el('title', {}, rect);
        title.textContent = `${name}: ${n} in the week of ${weekLabel(w)}`;
      });
      const every = Math.ceil(weeks.length / 8);
      if (i % every === 0) text(s, x + barW / 2, H - 8, weekLabel(w), { 'text-anchor': 'middle', class: 'axis' });
    });
    legend(container, top, colours);
  }
  /* Two series side by side per week. */
  function grouped(container, rows, kinds, colours) {
    if (!rows.length) { empty(container, 'Nothing saved or read yet.'); return; }
    const weeks = allWeeks(Array.from(new Set(rows.map((r) => r.week))));
    const table = {};
    weeks.forEach((w) => { table[w] = {}; });
    rows.forEach((r) => { if (table[r.week]) table[r.week][r.kind] = r.n; });
    const W = 360, H = 220, left = 30, bottom = 28, top_ = 10;
    const max = Math.max(1, ...rows.map((r) => r.n));
    const s = svg(container, W, H);
    const plotH = H - bottom - top_;
    const slot = (W - left - 6) / Math.max(weeks.length, 1);
    const barW = Math.max(1.5, Math.min(16, slot * 0.38));
    [0, 1].forEach((f) => {
      const y = top_ + plotH * (1 - f);
      el('line', { x1: left, x2: W - 4, y1: y, y2: y, class: 'grid' }, s);
      text(s, left - 5, y + 4, String(Math.round(max * f)), { 'text-anchor': 'end', class: 'axis' });
    });
    weeks.forEach((w, i) => {
      kinds.forEach((kind, j) => {
        const n = table[w][kind] || 0;
        if (!n) return;
        const h = plotH * n / max;
        const x = left + slot * i + slot / 2 - barW + j * barW;
        const rect = el('rect', { x: x, y: top_ + plotH - h, width: barW, height: h, fill: colours[j], rx: 1 }, s);
        el('title', {}, rect).textContent = `${kind}: ${n} in the week of ${weekLabel(w)}`;
      });
      const every = Math.ceil(weeks.length / 5);
      if (i % every === 0) text(s, left + slot * i + slot / 2, H - 8, weekLabel(w), { 'text-anchor': 'middle', class: 'axis' });
    });
    legend(container, kinds, colours);
  }
  /* Horizontal bars: [{label, n, colour, note, href}]. */
  function hbars(container, items, W, labelW) {
    if (!items.length) { empty(container, 'Nothing to show yet.'); return; }
    W = W || 720; labelW = labelW || 220;
    const rowH = 26;
    const H = items.length * rowH + 6;
    const max = Math.max(1, ...items.map((i) => i.n));
    const s = svg(container, W, H);
    s.setAttribute('width', '100%');
    items.forEach((item, i) => {
      const y = 3 + i * rowH;
      const label = item.label.length > 32 ? item.label.slice(0, 31) + '…' : item.label;
      text(s, labelW - 8, y + 16, label, { 'text-anchor': 'end', class: 'label' });
      const w = Math.max(2, (W - labelW - Math.min(150, W / 4)) * item.n / max);
      const rect = el('rect', { x: labelW, y: y + 4, width: w, height: rowH - 10, fill: item.colour, rx: 3 }, s);
      el('title', {}, rect).textContent = item.title || `${item.label}: ${item.n}`;
      text(s, labelW + w + 6, y + 16, `${item.n}${item.note ? '  ' + item.note : ''}`, { class: 'value' });
    });
  }

  function main() {
    const block = document.getElementById('dashboard-data');
    if (!block) return;
    const data = JSON.parse(block.textContent);
    stacked(document.getElementById('chart-feeds'), data.weeks, 'feed', 6);
    stacked(document.getElementById('chart-tags'), data.tag_weeks, 'tag', 6);
    grouped(document.getElementById('chart-saved-read'), data.saved_read, ['saved', 'read'], ['#3b6ea5', '#4f9d69']);
    const stateColours = { unread: '#3b6ea5', read: '#4f9d69', archived: '#9b9b9b' };
    hbars(document.getElementById('chart-states'), data.states.map((r) => ({
      label: r.state, n: r.n, colour: stateColours[r.state] || '#8a6fbf',
    })), 360, 90);
    hbars(document.getElementById('chart-health'), data.feeds.map((f) => ({
      label: f.title, n: f.articles, colour: STATUS_COLOURS[f.status] || '#8a6fbf',
      note: f.status === 'ok' ? '' : `${f.status}${f.error_count ? ', ' + f.error_count + ' errors' : ''}`,
      title: f.last_error ? `${f.title}: ${f.last_error}` : `${f.title}: ${f.articles} articles, ${f.status}`,
    })));
    const health = document.getElementById('chart-health');
    legend(health, Object.keys(STATUS_COLOURS), Object.values(STATUS_COLOURS));
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
}());
