// The documents page: what is in the daemon's folder, and a way to start a new one.
// A new document is made by opening it: the editor's join creates it.

const token = tokenFromPage();
// The daemon's rule for a document name (svgx_sync/git/names.py); it has the last word.
const NAME = /^(?!.*\.\.)[\p{L}\p{N}_-][\p{L}\p{N}_.-]*(?<!\.)$/u;

function tokenFromPage() {
  const given = new URLSearchParams(location.search).get('token');
  if (given) sessionStorage.setItem('svgx-token', given);
  return given || sessionStorage.getItem('svgx-token');
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function when(seconds) {
  return new Date(seconds * 1000).toLocaleString();
}

function row(doc) {
  const link = el('a', { href: `/d/${encodeURIComponent(doc.name)}` }, doc.name);
  const branches = doc.branches.map((b) =>
    el('a', { class: 'svgx-branch', href: `/d/${encodeURIComponent(doc.name)}@${encodeURIComponent(b)}` },
      b === doc.branch ? `${b} ✓` : b));
  const last = doc.last_version
    ? el('span', { title: doc.last_version.version_id },
      `${doc.last_version.description} — ${doc.last_version.author_name}, ${when(doc.last_version.timestamp)}`)
    : el('span', { class: 'svgx-muted' }, 'none');
  const live = doc.live.map((u) =>
    el('span', { class: 'svgx-person', title: `${u.session_id} (${u.status})` }, u.username || u.user_id));
  const tr = el('tr', { 'data-document': doc.name },
    el('td', {}, link), el('td', {}, ...branches), el('td', {}, last), el('td', {}, ...live));
  return tr;
}

async function load() {
  const status = document.getElementById('svgx-index-status');
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  let answer;
  try {
    const response = await fetch('/api/documents', { headers });
    answer = await response.json();
    if (!response.ok) throw new Error(answer.message || `HTTP ${response.status}`);
  } catch (err) {
    status.textContent = `cannot list the documents: ${err.message}`;
    status.dataset.state = 'error';
    return;
  }
  const body = document.querySelector('#svgx-documents tbody');
  body.replaceChildren(...answer.documents.map(row));
  document.getElementById('svgx-empty').hidden = answer.documents.length > 0;
  status.textContent = `${answer.documents.length} document${answer.documents.length === 1 ? '' : 's'}`;
  status.dataset.state = 'ready';
}

document.getElementById('svgx-new-document').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = document.getElementById('svgx-new-name').value.trim();
  const error = document.getElementById('svgx-new-error');
  if (!NAME.test(name)) {
    error.textContent = 'letters, digits, ".", "_" or "-"; not starting or ending with "."';
    return;
  }
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  location.assign(`/d/${encodeURIComponent(name)}${query}`);
});

load();
