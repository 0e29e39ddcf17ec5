// The editor page at /d/<document>[@<branch>]: connects, draws the document, wires the
// tools, the attributes panel, undo and the connection badge, and hands the panels
// (presence, versions, conflicts) the context they share (docs/editor.md).

import { connect, previewOperation } from '/svgx-client.js';
import { Canvas } from './canvas.js';
import { Edits, addressOf } from './edits.js';
import { History } from './undo.js';
import { Selection } from './selection.js';
import { Tools } from './tools.js';
import { AttributesPanel } from './attributes.js';
import { mount as mountPresence } from './presence.js';
import { mount as mountVersions } from './versions.js';
import { mount as mountConflicts } from './conflicts.js';

const RETRYABLE = new Set(['rate_limited', 'journal_error', 'store_error', 'server_error', 'internal_error']);
const EDIT_ACTIONS = ['delete', 'duplicate', 'forward', 'backward', 'undo', 'redo'];
const TOOL_KEYS = { v: 'select', r: 'rect', e: 'ellipse', l: 'line', p: 'polyline', t: 'text' };

function storageGet(storage, key) {
  try { return storage.getItem(key); } catch { return null; }
}

function storageSet(storage, key, value) {
  try { storage.setItem(key, value); } catch { /* storage refused: kept for this page only */ }
}

/** The token: from `?token=`, kept in sessionStorage for in-page navigation. */
function pageToken(params) {
  const given = params.get('token');
  if (given) storageSet(sessionStorage, 'svgx-token', given);
  return given || storageGet(sessionStorage, 'svgx-token') || undefined;
}

/** Who edits: `?user=&name=` (this tab only), else the saved one, else a new guest. */
function pageUser(params) {
  if (params.get('user')) {
    const user = { user_id: params.get('user'), username: params.get('name') || params.get('user') };
    storageSet(sessionStorage, 'svgx-user', JSON.stringify(user));
    return { user, given: true };
  }
  for (const storage of [sessionStorage, localStorage]) {
    try {
      const saved = JSON.parse(storageGet(storage, 'svgx-user') ?? 'null');
      if (saved?.user_id) return { user: saved, given: false };
    } catch { /* a damaged entry: a new guest */ }
  }
  const random = globalThis.crypto?.randomUUID?.().slice(0, 8) ?? Math.random().toString(36).slice(2, 10);
  const user = { user_id: `guest-${random}`, username: `Guest ${100 + Math.floor(Math.random() * 900)}` };
  storageSet(localStorage, 'svgx-user', JSON.stringify(user));
  return { user, given: false };
}

/** The claims of a signed token (a JWT), unverified: who it names. Null for others. */
function tokenClaims(token) {
  const parts = (token ?? '').split('.');
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(parts[1].length / 4) * 4, '='));
    const claims = JSON.parse(json);
    return typeof claims?.sub === 'string' ? claims : null;
  } catch {
    return null;
  }
}

function sessionFromPath() {
  const raw = location.pathname.replace(/^\/d\//, '').replace(/\/+$/, '');
  return decodeURIComponent(raw) || 'untitled';
}

function toast(text, kind = 'info') {
  const box = document.getElementById('svgx-messages');
  const item = document.createElement('div');
  item.className = `svgx-message svgx-message-${kind}`;
  item.textContent = text;
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

function start() {
  const params = new URLSearchParams(location.search);
  const token = pageToken(params);
  const { user, given } = pageUser(params);
  const sessionId = sessionFromPath();
  const [documentName] = sessionId.split('@');
  document.title = `${sessionId} · svgx`;
  document.getElementById('svgx-document-name').textContent = sessionId;

  const url = `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}/`;
  // With a token the token says who this is: a signed token names its user; another
  // kind is asked (below) when the URL gives none.
  const claims = tokenClaims(token);
  if (token && !given && claims) {
    user.user_id = claims.sub;
    user.username = claims.name ?? claims.sub;
  }
  const userId = token && !given && !claims ? undefined : user.user_id;
  const client = connect(url, { userId, username: user.username, session: sessionId, token });

  const host = document.querySelector('[data-svgx-canvas]');
  let edits = null;
  const canvas = new Canvas(host, client.model, {
    pending: (id) => edits?.pendingFor(id) ?? [],
    pendingAll: () => edits?.pendingAll() ?? [],
    preview: previewOperation,
  });
  edits = new Edits(client, canvas);
  const history = new History(edits);
  const selection = new Selection(canvas);
  const tools = new Tools({ canvas, edits, history, selection, host });
  const attributes = new AttributesPanel(document.getElementById('svgx-attributes'), { canvas, selection, history });

  const ctx = {
    client,
    model: client.model,
    sessionId,
    documentName,
    branch: null,
    user: { user_id: user.user_id, username: user.username },
    readOnly: false,
    canvas: {
      svg: canvas.svg,
      overlay: canvas.overlay,
      toDocument: (x, y) => canvas.toDocument(x, y),
      elementFor: (id) => canvas.elementFor(id),
      onViewChange: (fn) => canvas.onViewChange(fn),
    },
    selection: {
      ids: () => selection.ids(),
      set: (ids) => selection.set(ids),
      onChange: (fn) => selection.onChange(fn),
    },
    events: canvas.events,
  };

  // -- the connection badge and read-only ---------------------------------------------------

  const badge = document.getElementById('svgx-status');
  let everWelcomed = false;
  const showState = () => {
    let state = client.state === 'live' ? 'live' : client.state === 'connecting' || client.state === 'idle' ? 'connecting' : 'offline';
    if (state === 'live' && !role) state = 'connecting';
    if (state === 'live' && ctx.readOnly) state = 'read-only';
    badge.dataset.state = state;
    const waiting = edits.pendingAll().length;
    badge.textContent = { connecting: 'Connecting…', live: 'Live', offline: 'Offline', 'read-only': 'Read-only' }[state]
      + (waiting && state !== 'live' ? ` · ${waiting} edit${waiting === 1 ? '' : 's'} waiting` : '');
    badge.title = state === 'offline' ? 'Edits are kept and sent when the connection is back' : '';
  };

  const setReadOnly = (on) => {
    if (ctx.readOnly === on) return;
    ctx.readOnly = on;
    document.body.dataset.readOnly = on ? 'true' : 'false';
    for (const button of document.querySelectorAll('#svgx-toolbar [data-tool]')) {
      button.hidden = on && button.dataset.tool !== 'select';
    }
    for (const action of EDIT_ACTIONS) {
      const button = document.querySelector(`#svgx-toolbar [data-action="${action}"]`);
      if (button) button.hidden = on;
    }
    tools.setReadOnly(on);
    selection.readOnly = on;
    attributes.setReadOnly(on);
    selection.draw();
    showState();
  };

  // The welcome says whom the connection speaks for and what it may do.
  let role = null;
  const learnUser = (id) => {
    if (!id || client.userId === id) return;
    client.userId = id;
    client.prefix = `${id.replace(/[^A-Za-z0-9._:@/+=~#-]/g, '_').slice(0, 64)}-${client.prefix.split('-').pop()}`;
    client.outbox = client.loadOutbox();
    edits.adopt(client.pending());
    ctx.user.user_id = id;
    try {
      const named = ctx.user.username;
      const known = (client.welcome?.users ?? []).find((u) => u.user_id === id);
      ctx.user.username = known?.username ?? named;
      nameInput.value = ctx.user.username;
    } catch { /* the name stays */ }
  };
  const known = () => {
    setReadOnly(role === 'viewer');
    if (!mounted) {
      mounted = true;
      for (const mount of [mountPresence, mountVersions, mountConflicts]) {
        try { mount(ctx); } catch (err) { toast(`A panel failed to start: ${err.message}`, 'error'); }
      }
    }
    showState();
  };
  let mounted = false;

  client.on('status', showState);
  setReadOnly(true);
  client.on('welcome', (msg) => {
    ctx.branch = msg.branch;
    if (msg.user_id) learnUser(msg.user_id);
    role = msg.role ?? 'editor';
    edits.welcomed();
    canvas.renderAll();
    if (!everWelcomed) {
      everWelcomed = true;
      canvas.fit();
    }
    selection.refresh();
    known();
    showState();
  });
  client.on('operations', (msg) => {
    const whole = !edits.confirmed(msg.operations);
    // the outlines are measured again only when a selected element changed
    if (whole || msg.operations.some((op) => selection.has(op.element_id))) selection.refresh();
    showState();
  });
  client.on('ack', (ack) => {
    edits.acked(ack);
    if (ack.status === 'rejected') toast(`An edit was refused: ${ack.reason ?? 'conflict'}`, 'error');
    showState();
  });
  client.on('error', (msg) => {
    // Refused as a viewer (the role changed since the welcome): no more editing tools.
    if (msg.code === 'forbidden' && / is viewer$/.test(msg.message ?? '')) setReadOnly(true);
    edits.refused(msg, RETRYABLE.has(msg.code));
    selection.refresh();
    toast(msg.message ?? msg.code, 'error');
    showState();
  });
  client.on('model_error', () => canvas.renderAll());
  const reload = () => { canvas.renderAll(); selection.refresh(); };
  client.on('version_reverted', reload);
  client.on('merge_aborted', (msg) => { if (msg.files) reload(); });
  client.on('close', (msg) => {
    if (msg.code === 1008) toast('The token was refused: reload the page with a valid ?token=', 'error');
    showState();
  });
  edits.onSend(showState);

  // The browser's own offline/online: stop reconnecting while offline, at once when back.
  addEventListener('offline', () => client.suspend());
  addEventListener('online', () => client.resume());

  // -- toolbar and keys ------------------------------------------------------------------------

  const toolbar = document.getElementById('svgx-toolbar');
  const actions = {
    delete: () => tools.deleteSelected(),
    duplicate: () => tools.duplicateSelected(),
    forward: () => tools.restack(1),
    backward: () => tools.restack(-1),
    // a nudge still waiting to be sent is an edit of its own: sent first
    undo: () => { if (!ctx.readOnly && !tools.drag) { tools.endNudge(); history.undo(); } },
    redo: () => { if (!ctx.readOnly && !tools.drag) { tools.endNudge(); history.redo(); } },
    fit: () => canvas.fit(),
    grid: () => {
      const on = canvas.toggleGrid();
      toolbar.querySelector('[data-action="grid"]').setAttribute('aria-pressed', String(on));
    },
    'zoom-in': () => canvas.zoom(1.25),
    'zoom-out': () => canvas.zoom(0.8),
  };
  toolbar.addEventListener('click', (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    if (button.dataset.tool) tools.setTool(button.dataset.tool);
    else if (actions[button.dataset.action]) actions[button.dataset.action]();
  });
  tools.onToolChange((name) => {
    for (const b of toolbar.querySelectorAll('[data-tool]')) b.setAttribute('aria-pressed', String(b.dataset.tool === name));
  });
  tools.setTool('select');
  const syncUndo = () => {
    toolbar.querySelector('[data-action="undo"]').disabled = !history.canUndo();
    toolbar.querySelector('[data-action="redo"]').disabled = !history.canRedo();
  };
  history.onChange(syncUndo);
  syncUndo();

  const nameInput = document.getElementById('svgx-username');
  nameInput.value = user.username;
  nameInput.disabled = Boolean(token && !given);
  nameInput.addEventListener('change', () => {
    const username = nameInput.value.trim() || user.username;
    user.username = username;
    ctx.user.username = username;
    storageSet(given ? sessionStorage : localStorage, 'svgx-user', JSON.stringify(user));
    client.username = username;
    client.suspend(); // join again under the new name
    client.resume();
  });

  const typing = (e) => e.target.closest?.('input, textarea, select, [contenteditable]');
  addEventListener('keydown', (e) => {
    if (typing(e)) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key;
    if (key === ' ') { tools.space = true; host.dataset.panning = 'true'; e.preventDefault(); return; }
    if (mod && key.toLowerCase() === 'z') { e.preventDefault(); (e.shiftKey ? actions.redo : actions.undo)(); return; }
    if (mod && key.toLowerCase() === 'y') { e.preventDefault(); actions.redo(); return; }
    if (mod && key.toLowerCase() === 'd') { e.preventDefault(); actions.duplicate(); return; }
    if (mod && key.toLowerCase() === 'a') { e.preventDefault(); selection.set([...tools.selectable()].map(addressOf)); return; }
    if (mod) return;
    if (key === 'Delete' || key === 'Backspace') { e.preventDefault(); actions.delete(); return; }
    if (key === 'Escape') { tools.cancelPolyline(); tools.cancel(); selection.set([]); return; }
    if (key === 'Enter') { tools.finishPolyline(); return; }
    if (key === '+' || key === '=') { actions['zoom-in'](); return; }
    if (key === '-' || key === '_') { actions['zoom-out'](); return; }
    if (key === '0') { actions.fit(); return; }
    if (key === '1') { canvas.actualSize(); return; }
    if (key === ']') { actions.forward(); return; }
    if (key === '[') { actions.backward(); return; }
    if (key === '#' || key === "'") { actions.grid(); return; }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (arrows[key]) {
      e.preventDefault();
      const by = e.shiftKey ? 10 : 1;
      tools.nudgeBy(arrows[key][0] * by, arrows[key][1] * by);
      return;
    }
    const tool = TOOL_KEYS[key.toLowerCase()];
    if (tool) tools.setTool(tool);
  });
  addEventListener('keyup', (e) => {
    if (e.key === ' ') { tools.space = false; delete host.dataset.panning; }
    if (e.key.startsWith('Arrow')) tools.endNudge();
  });

  showState();
  return ctx;
}

start();
