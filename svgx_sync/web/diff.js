// The visual diff page: two revisions of a document drawn side by side (2-up), one over
// the other (swipe, onion skin), the changed elements tinted in a vector overlay and
// listed in a table. The data is GET /api/d/<document>/diff?from=&to= (docs/diff-page.md).

const SVG_NS = 'http://www.w3.org/2000/svg';
const SIDES = ['from', 'to'];
// Which renderings show an element of each kind.
const SHOWN_IN = { added: ['to'], removed: ['from'], changed: ['from', 'to'] };
const KIND_MARK = { added: '+', removed: '−', changed: '~' };
// A comparison still running is asked for again: every RETRY_MS, up to RETRIES times
// (with the daemon's 8 s per request, about ten minutes).
const RETRIES = 60;
const RETRY_MS = 1000;

const token = tokenFromPage();
makeUpperPane();
const documentName = documentFromPath(location.pathname);
const state = { data: null, file: null, selected: null, mode: '2up' };
const $ = (id) => document.getElementById(id);

function tokenFromPage() {
  const given = new URLSearchParams(location.search).get('token');
  if (given) sessionStorage.setItem('svgx-token', given);
  return given || sessionStorage.getItem('svgx-token');
}

// The markup holds the old version's pane; the new version's is the same, made here.
function makeUpperPane() {
  const lower = document.querySelector('.svgx-diff-pane[data-side="from"]');
  const upper = lower.cloneNode(true);
  for (const node of [upper, ...upper.querySelectorAll('[data-side]')]) node.dataset.side = 'to';
  upper.querySelector('figcaption').id = 'svgx-diff-to-label';
  upper.querySelector('figcaption').textContent = 'to';
  lower.after(upper);
}

function documentFromPath(path) {
  const match = /^\/d\/([^/]+)\/diff\/?$/.exec(path);
  const name = match ? decodeURIComponent(match[1]) : '';
  return name.split('@', 1)[0];
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function status(text, kind) {
  const badge = $('svgx-diff-status');
  badge.textContent = text;
  badge.dataset.state = kind;
}

// -- the data ------------------------------------------------------------------------------

async function load() {
  const query = new URLSearchParams(location.search);
  const params = new URLSearchParams();
  for (const name of ['from', 'to']) if (query.get(name)) params.set(name, query.get(name));
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  status('loading…', 'loading');
  let answer;
  try {
    const url = `/api/d/${encodeURIComponent(documentName)}/diff?${params}`;
    // A comparison of two very different versions of a big drawing outlasts one
    // request: the daemon answers 503 with `retry` and goes on; asking again gets it.
    for (let asked = 1; ; asked++) {
      const response = await fetch(url, { headers });
      answer = await response.json();
      if (response.ok) break;
      if (!(response.status === 503 && answer.retry) || asked >= RETRIES) {
        throw new Error(answer.message || `HTTP ${response.status}`);
      }
      status(`still comparing… (${answer.message})`, 'loading');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  } catch (err) {
    status(`cannot compare: ${err.message}`, 'error');
    return;
  }
  state.data = answer;
  const files = fileList(answer);
  if (!files.includes(state.file)) state.file = files.includes('document.svg') ? 'document.svg' : files[0] ?? null;
  showRevs(answer);
  showFiles(files);
  render();
  const n = answer.changes.length;
  status(`${n} change${n === 1 ? '' : 's'}`, 'ready');
}

function fileList(data) {
  return [...new Set([...Object.keys(data.from.files), ...Object.keys(data.to.files)])].sort();
}

function showRevs(data) {
  $('svgx-diff-from').value = data.from.rev;
  $('svgx-diff-to').value = data.to.rev;
  $('svgx-diff-from-label').textContent = `from: ${data.from.label}`;
  $('svgx-diff-to-label').textContent = `to: ${data.to.label}`;
  const link = $('svgx-diff-document');
  link.textContent = data.document;
  link.href = `/d/${encodeURIComponent(data.document)}`;
  document.title = `svgx_sync: ${data.document} diff`;
  const options = [el('option', { value: 'live' }, 'the live state')];
  for (const branch of data.choices.branches) options.push(el('option', { value: branch }, `branch ${branch}`));
  for (const v of data.choices.versions) {
    const when = new Date(v.timestamp * 1000).toLocaleString();
    options.push(el('option', { value: v.version_id.slice(0, 12) }, `${v.description} — ${v.author_name}, ${when}`));
  }
  $('svgx-diff-choices').replaceChildren(...options);
}

function showFiles(files) {
  const select = $('svgx-diff-file');
  select.replaceChildren(...files.map((f) => el('option', { value: f }, f)));
  select.value = state.file ?? '';
  $('svgx-diff-file-label').hidden = files.length < 2;
}

// -- the renderings -------------------------------------------------------------------------

function canvas(side) {
  return document.querySelector(`[data-svgx-canvas][data-side="${side}"]`);
}

function overlay(side) {
  return document.querySelector(`[data-svgx-overlay][data-side="${side}"]`);
}

function drawing(text) {
  // The files come with active content made inert; the page's CSP is the guard besides.
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = parsed.documentElement;
  if (root.namespaceURI !== SVG_NS || root.localName !== 'svg') return null;
  const svg = document.importNode(root, true);
  if (!svg.hasAttribute('viewBox')) {
    const w = parseFloat(svg.getAttribute('width'));
    const h = parseFloat(svg.getAttribute('height'));
    if (w > 0 && h > 0) svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  }
  svg.setAttribute('width', '100%');
  svg.setAttribute('height', '100%');
  return svg;
}

function render() {
  const { data, file } = state;
  for (const side of SIDES) {
    const text = file === null ? undefined : data[side].files[file];
    const svg = text === undefined ? null : drawing(text);
    const target = canvas(side);
    if (svg) target.replaceChildren(svg);
    else target.replaceChildren(el('p', { class: 'svgx-muted svgx-diff-absent' }, file === null ? 'no files' : `no ${file} here`));
  }
  state.selected = null;
  showTable();
  drawOverlays();
}

function changesOfFile() {
  return state.data.changes.filter((c) => c.file === state.file);
}

// The element a change names in one rendering: by id, else by its /i/j position there.
function elementFor(side, change) {
  const svg = canvas(side).querySelector(':scope > svg');
  if (!svg) return null;
  const path = change.path?.[side === 'from' ? 'old' : 'new'];
  if (!change.element_id.startsWith('/')) {
    const found = svg.querySelector(`[id="${CSS.escape(change.element_id)}"]`);
    if (found || path == null) return found;
  }
  if (path == null) return null;
  let node = svg;
  for (const part of path.split('/').filter(Boolean)) {
    node = node.children[Number(part)];
    if (!node) return null;
  }
  return node;
}

function drawOverlays() {
  for (const side of SIDES) {
    const layer = overlay(side);
    const box = layer.getBoundingClientRect();
    layer.setAttribute('viewBox', `0 0 ${Math.max(box.width, 1)} ${Math.max(box.height, 1)}`);
    const marks = [];
    if ($('svgx-diff-tint').checked && state.data) {
      changesOfFile().forEach((change, index) => {
        if (!SHOWN_IN[change.kind].includes(side) || change.path?.[side === 'from' ? 'old' : 'new'] === '/') return;
        const target = elementFor(side, change);
        if (!target || typeof target.getBoundingClientRect !== 'function') return;
        const r = target.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) return;
        const mark = document.createElementNS(SVG_NS, 'rect');
        const pad = 2;
        mark.setAttribute('x', r.left - box.left - pad);
        mark.setAttribute('y', r.top - box.top - pad);
        mark.setAttribute('width', r.width + 2 * pad);
        mark.setAttribute('height', r.height + 2 * pad);
        mark.setAttribute('class', 'svgx-diff-mark');
        mark.dataset.kind = change.kind;
        mark.dataset.index = String(index);
        mark.dataset.elementId = change.element_id;
        if (state.selected === index) mark.dataset.highlight = '';
        const title = document.createElementNS(SVG_NS, 'title');
        title.textContent = `${change.kind} ${label(change)}`;
        mark.append(title);
        marks.push(mark);
      });
    }
    layer.replaceChildren(...marks);
  }
}

// -- the table ------------------------------------------------------------------------------

function label(change) {
  return change.element_id.startsWith('/') ? `${change.tag} at ${change.element_id}` : `${change.tag}#${change.element_id}`;
}

function value(v) {
  return v === null || v === undefined ? el('span', { class: 'svgx-muted' }, '(none)') : el('code', {}, v);
}

function details(change) {
  const list = el('ul', { class: 'svgx-diff-details' });
  for (const a of change.attributes) {
    if (change.kind !== 'changed' && a.name === 'id') continue;
    const item = el('li', { 'data-attribute': a.name }, el('span', { class: 'svgx-diff-name' }, a.name), ': ');
    if (change.kind === 'added') item.append(value(a.new));
    else if (change.kind === 'removed') item.append(value(a.old));
    else item.append(value(a.old), ' → ', value(a.new));
    list.append(item);
  }
  if (change.text) {
    const item = el('li', { 'data-attribute': '#text' }, el('span', { class: 'svgx-diff-name' }, 'text'), ': ');
    if (change.kind === 'changed') item.append(value(change.text.old), ' → ', value(change.text.new));
    else item.append(value(change.kind === 'added' ? change.text.new : change.text.old));
    list.append(item);
  }
  if (change.moved) list.append(el('li', { 'data-attribute': '#place' }, `moved from ${change.path.old} to ${change.path.new}`));
  return list;
}

function showTable() {
  const rows = changesOfFile().map((change, index) => {
    const row = el('tr', {
      'data-index': String(index),
      'data-kind': change.kind,
      'data-element-id': change.element_id,
      tabindex: '0',
    },
    el('td', {}, el('span', { class: 'svgx-diff-key', 'data-kind': change.kind }, `${KIND_MARK[change.kind]} ${change.kind}`)),
    el('td', {}, el('code', {}, label(change))),
    el('td', {}, details(change)));
    return row;
  });
  $('svgx-diff-changes').tBodies[0].replaceChildren(...rows);
  const n = rows.length;
  $('svgx-diff-count').textContent = `${n} changed element${n === 1 ? '' : 's'}${state.file ? ` in ${state.file}` : ''}`;
  $('svgx-diff-none').hidden = n > 0;
}

function select(index) {
  state.selected = index;
  for (const node of document.querySelectorAll('[data-svgx-canvas] [data-svgx-highlight]')) node.removeAttribute('data-svgx-highlight');
  for (const row of $('svgx-diff-changes').tBodies[0].rows) row.toggleAttribute('data-selected', row.dataset.index === String(index));
  const change = changesOfFile()[index];
  if (change) {
    for (const side of SIDES) {
      const target = elementFor(side, change);
      if (!target) continue;
      target.setAttribute('data-svgx-highlight', '');
      target.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
    }
  }
  drawOverlays();
}

// -- modes ----------------------------------------------------------------------------------

function setMode(mode) {
  state.mode = mode;
  $('svgx-diff-view').dataset.mode = mode;
  for (const button of document.querySelectorAll('[data-mode]')) {
    if (button.tagName === 'BUTTON') button.setAttribute('aria-pressed', String(button.dataset.mode === mode));
  }
  $('svgx-diff-slider-label').hidden = mode === '2up';
  $('svgx-diff-slider-name').textContent = mode === 'onion' ? 'opacity' : 'reveal';
  slide();
}

function slide() {
  const at = Number($('svgx-diff-slider').value);
  const top = document.querySelector('.svgx-diff-pane[data-side="to"]');
  top.style.clipPath = state.mode === 'swipe' ? `inset(0 0 0 ${at}%)` : '';
  top.style.opacity = state.mode === 'onion' ? String(at / 100) : '';
  $('svgx-diff-view').style.setProperty('--svgx-swipe', `${at}%`);
  requestAnimationFrame(drawOverlays);
}

// -- wiring ---------------------------------------------------------------------------------

function compare(from, to) {
  const query = new URLSearchParams(location.search);
  query.set('from', from);
  query.set('to', to);
  history.pushState(null, '', `${location.pathname}?${query}`);
  load();
}

$('svgx-diff-revs').addEventListener('submit', (event) => {
  event.preventDefault();
  compare($('svgx-diff-from').value.trim(), $('svgx-diff-to').value.trim());
});
$('svgx-diff-swap').addEventListener('click', () => compare($('svgx-diff-to').value.trim(), $('svgx-diff-from').value.trim()));
for (const button of document.querySelectorAll('button[data-mode]')) {
  button.addEventListener('click', () => setMode(button.dataset.mode));
}
$('svgx-diff-slider').addEventListener('input', slide);
$('svgx-diff-tint').addEventListener('change', drawOverlays);
$('svgx-diff-file').addEventListener('change', (event) => {
  state.file = event.target.value;
  render();
});
$('svgx-diff-changes').addEventListener('click', (event) => {
  const row = event.target.closest('tr[data-index]');
  if (row) select(Number(row.dataset.index));
});
$('svgx-diff-changes').addEventListener('keydown', (event) => {
  const row = event.target.closest('tr[data-index]');
  if (row && (event.key === 'Enter' || event.key === ' ')) {
    event.preventDefault();
    select(Number(row.dataset.index));
  }
});
for (const side of SIDES) {
  overlay(side).addEventListener('click', (event) => {
    const mark = event.target.closest('.svgx-diff-mark');
    if (!mark) return;
    select(Number(mark.dataset.index));
    $('svgx-diff-changes').tBodies[0].rows[Number(mark.dataset.index)]?.scrollIntoView({ block: 'nearest' });
  });
}
window.addEventListener('popstate', load);
new ResizeObserver(() => drawOverlays()).observe($('svgx-diff-view'));

if (!documentName) status('no document in this address', 'error');
else load();
