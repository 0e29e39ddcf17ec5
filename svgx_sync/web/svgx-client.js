// svgx-client.js: the svgx_sync client library, one ES module with no dependencies.
// Works in browsers and in Node 20+ (Node 20: `node --experimental-websocket`).
// Protocol: docs/protocol.md. Usage: docs/js-client.md.

// -- a model of the document, independent of the DOM ------------------------------------

const SHAPES = {
  rectangle: 'rect', circle: 'circle', ellipse: 'ellipse', line: 'line', polyline: 'polyline',
  polygon: 'polygon', path: 'path', text: 'text', group: 'g', image: 'image', use: 'use',
};
const XY_TAGS = new Set(['rect', 'image', 'use', 'svg', 'pattern', 'mask', 'filter', 'text', 'tspan']);
const WH_TAGS = new Set(['rect', 'image', 'use', 'svg', 'pattern', 'mask', 'filter']);
const MODEL_ID = 'svgx-model';
const TRANSLATE = /^\s*translate\(\s*([-+0-9.eE]+)(?:[\s,]+([-+0-9.eE]+))?\s*\)\s*/;
const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** A number as SVG wants it (`100`, not `100.0`), as the daemon writes it. */
export function fmt(value) {
  if (Number.isInteger(value)) return String(value);
  return String(Math.round(value * 1e6) / 1e6);
}

function scalar(value) {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return fmt(value);
  if (Array.isArray(value)) return value.map(scalar).join(' ');
  return String(value);
}

function unescapeXml(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, name) => {
    if (name[0] === '#') {
      return String.fromCodePoint(name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10));
    }
    return ENTITIES[name] ?? whole;
  });
}

function escapeXml(text, attribute) {
  const out = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return attribute ? out.replace(/"/g, '&quot;') : out;
}

function element(tag, attrs = {}) {
  return { tag, attrs: { ...attrs }, children: [], text: '', tail: '', parent: null };
}

/** Parse XML markup into a plain tree: `{tag, attrs, children, text, tail, parent}`. */
export function parseXml(markup) {
  const top = element('#document');
  let node = top;
  let i = 0;
  const addText = (s) => {
    const last = node.children[node.children.length - 1];
    if (last) last.tail += s;
    else node.text += s;
  };
  while (i < markup.length) {
    const lt = markup.indexOf('<', i);
    if (lt < 0) { addText(unescapeXml(markup.slice(i))); break; }
    if (lt > i) addText(unescapeXml(markup.slice(i, lt)));
    if (markup.startsWith('<!--', lt)) { i = markup.indexOf('-->', lt) + 3; continue; }
    if (markup.startsWith('<![CDATA[', lt)) {
      const end = markup.indexOf(']]>', lt);
      addText(markup.slice(lt + 9, end));
      i = end + 3;
      continue;
    }
    if (markup.startsWith('<?', lt)) { i = markup.indexOf('?>', lt) + 2; continue; }
    if (markup.startsWith('<!', lt)) { i = skipDeclaration(markup, lt); continue; }
    if (markup[lt + 1] === '/') {
      i = markup.indexOf('>', lt) + 1;
      node = node.parent;
      continue;
    }
    const tagMatch = /^<([^\s/>]+)/.exec(markup.slice(lt, lt + 300));
    const el = element(tagMatch[1]);
    let j = lt + tagMatch[0].length;
    const attr = /\s*([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')|\s*(\/?>)/y;
    for (;;) {
      attr.lastIndex = j;
      const m = attr.exec(markup);
      if (!m) throw new Error(`malformed XML near offset ${j}`);
      j = attr.lastIndex;
      if (m[5]) {
        el.parent = node;
        node.children.push(el);
        if (m[5] === '>') node = el;
        break;
      }
      el.attrs[m[1]] = unescapeXml(m[3] ?? m[4]).replace(/[\t\n\r]/g, ' ');
    }
    i = j;
  }
  return top;
}

function skipDeclaration(markup, at) {
  let depth = 0;
  for (let k = at; k < markup.length; k++) {
    if (markup[k] === '[') depth++;
    else if (markup[k] === ']') depth--;
    else if (markup[k] === '>' && depth === 0) return k + 1;
  }
  return markup.length;
}

const localName = (qname) => qname.slice(qname.indexOf(':') + 1);

/**
 * The document as the daemon's operations leave it: elements by id, applied in `seq`
 * order with the daemon's rules (docs/operations.md). Files by path.
 */
export class SvgModel {
  constructor() {
    this.files = new Map();
    this.seq = 0;
  }

  /** Load every file from a `welcome` (or a revert's `files`). */
  load(files, seq) {
    this.files = new Map();
    for (const [path, text] of Object.entries(files)) this.files.set(path, parseXml(text));
    if (seq !== undefined) this.seq = seq;
  }

  /** The root `<svg>` of a file (default: `document.svg` or the only one). */
  root(file) {
    const name = this.fileName(file);
    const doc = this.files.get(name);
    if (!doc) throw new Error(`no file ${name}`);
    return doc.children.find((c) => c.tag !== '#document');
  }

  fileName(file) {
    if (file) return file;
    if (this.files.has('document.svg') || this.files.size !== 1) return 'document.svg';
    return [...this.files.keys()][0];
  }

  /** The element with this id (or `/i/j` position), or undefined. */
  find(address, file) {
    const root = this.root(file);
    if (address.startsWith('/')) {
      let el = root;
      for (const part of address.split('/').filter(Boolean)) {
        el = el?.children[Number(part)];
      }
      return el;
    }
    const walk = (el) => {
      if (el.attrs.id === address) return el;
      for (const c of el.children) {
        const hit = walk(c);
        if (hit) return hit;
      }
      return undefined;
    };
    return walk(root);
  }

  /** Apply one operation from an `operations` message (or a welcome's catch-up). */
  apply(op) {
    if (typeof op.seq === 'number') this.seq = Math.max(this.seq, op.seq);
    if (op.operation_type === 'file_add') {
      this.files.set(op.file, parseXml(op.data.markup));
      return;
    }
    if (op.operation_type === 'file_delete') {
      this.files.delete(op.file);
      return;
    }
    const handler = APPLY[op.operation_type];
    if (handler) handler(this, op, op.data ?? {}, op.file ?? undefined);
  }

  /** `{id: {tag, attributes}}` of every element with an id, names without prefixes. */
  snapshot(file) {
    const out = {};
    const walk = (el) => {
      if (el.attrs.id !== undefined) {
        const attributes = {};
        for (const [k, v] of Object.entries(el.attrs)) {
          if (!k.includes(':') && k !== 'xmlns') attributes[k] = v;
        }
        out[el.attrs.id] = { tag: localName(el.tag), attributes };
      }
      el.children.forEach(walk);
    };
    walk(this.root(file));
    return out;
  }

  /** The file as SVG markup (namespace declarations as loaded). */
  serialize(file) {
    return serializeElement(this.root(file));
  }
}

/** Whether an operation names its file's markup instead of carrying it (`markup_url`). */
function namesMarkup(op) {
  return op.operation_type === 'file_add' && typeof op.data?.markup_url === 'string';
}

function must(model, address, file) {
  const el = model.find(address, file);
  if (!el) throw new Error(`no element ${address}`);
  return el;
}

function insert(parent, index, el) {
  if (el.parent) {
    const siblings = el.parent.children;
    siblings.splice(siblings.indexOf(el), 1);
  }
  const at = index === undefined || index === null ? parent.children.length : Math.min(index, parent.children.length);
  parent.children.splice(at, 0, el);
  el.parent = parent;
}

function setAttr(el, name, value) {
  if (value === null || value === undefined) delete el.attrs[name];
  else el.attrs[name] = value;
}

function num(el, name) {
  return parseFloat((el.attrs[name] ?? '0').trim().replace(/px$/, '')) || 0;
}

function points(el) {
  const n = (el.attrs.points ?? '').trim().split(/[\s,]+/).filter(Boolean).map(Number);
  const out = [];
  for (let k = 0; k + 1 < n.length; k += 2) out.push([n[k], n[k + 1]]);
  return out;
}

const formatPoints = (pts) => pts.map(([x, y]) => `${fmt(x)},${fmt(y)}`).join(' ');

function setPosition(el, x, y) {
  const tag = localName(el.tag);
  if (XY_TAGS.has(tag)) { setAttr(el, 'x', fmt(x)); setAttr(el, 'y', fmt(y)); }
  else if (tag === 'circle' || tag === 'ellipse') { setAttr(el, 'cx', fmt(x)); setAttr(el, 'cy', fmt(y)); }
  else translate(el, x, y, false);
}

function translate(el, x, y, relative) {
  const tag = localName(el.tag);
  if (tag === 'line') {
    const [dx, dy] = relative ? [x, y] : [x - num(el, 'x1'), y - num(el, 'y1')];
    for (const [name, d] of [['x1', dx], ['y1', dy], ['x2', dx], ['y2', dy]]) setAttr(el, name, fmt(num(el, name) + d));
  } else if (tag === 'polyline' || tag === 'polygon') {
    const pts = points(el);
    const dx = relative ? x : x - Math.min(...pts.map((p) => p[0]));
    const dy = relative ? y : y - Math.min(...pts.map((p) => p[1]));
    setAttr(el, 'points', formatPoints(pts.map(([px, py]) => [px + dx, py + dy])));
  } else if (relative && (XY_TAGS.has(tag) || tag === 'circle' || tag === 'ellipse')) {
    const [xa, ya] = tag === 'circle' || tag === 'ellipse' ? ['cx', 'cy'] : ['x', 'y'];
    setAttr(el, xa, fmt(num(el, xa) + x));
    setAttr(el, ya, fmt(num(el, ya) + y));
  } else {
    const transform = el.attrs.transform ?? '';
    const m = TRANSLATE.exec(transform);
    const rest = m ? transform.slice(m[0].length) : transform.trim();
    if (relative) {
      x += m ? parseFloat(m[1]) : 0;
      y += m ? parseFloat(m[2] ?? '0') : 0;
    }
    setAttr(el, 'transform', `translate(${fmt(x)} ${fmt(y)})` + (rest ? ` ${rest}` : ''));
  }
}

function setSize(el, width, height) {
  const tag = localName(el.tag);
  if (WH_TAGS.has(tag)) { setAttr(el, 'width', fmt(width)); setAttr(el, 'height', fmt(height)); }
  else if (tag === 'circle') setAttr(el, 'r', fmt(Math.min(width, height) / 2));
  else if (tag === 'ellipse') { setAttr(el, 'rx', fmt(width / 2)); setAttr(el, 'ry', fmt(height / 2)); }
  else if (tag === 'line') {
    setAttr(el, 'x2', fmt(num(el, 'x1') + width));
    setAttr(el, 'y2', fmt(num(el, 'y1') + height));
  } else if (tag === 'polyline' || tag === 'polygon') {
    const pts = points(el);
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    const [x0, y0] = [Math.min(...xs), Math.min(...ys)];
    const sx = Math.max(...xs) > x0 ? width / (Math.max(...xs) - x0) : 1;
    const sy = Math.max(...ys) > y0 ? height / (Math.max(...ys) - y0) : 1;
    setAttr(el, 'points', formatPoints(pts.map(([px, py]) => [x0 + (px - x0) * sx, y0 + (py - y0) * sy])));
  } else if (tag === 'text' || tag === 'tspan') setAttr(el, 'font-size', fmt(height));
}

function parseStyle(style) {
  const props = {};
  for (const decl of style.split(';')) {
    const at = decl.indexOf(':');
    if (at >= 0) props[decl.slice(0, at).trim()] = decl.slice(at + 1).trim();
  }
  return props;
}

function setContent(el, data) {
  if (data.position) setPosition(el, data.position.x, data.position.y);
  if (data.size) setSize(el, data.size.width, data.size.height);
  for (const [name, value] of Object.entries(data.attributes ?? {})) {
    setAttr(el, name, value === null ? null : scalar(value));
  }
  if ('style' in data) {
    if (typeof data.style === 'string') setAttr(el, 'style', data.style || null);
    else {
      const props = parseStyle(el.attrs.style ?? '');
      for (const [k, v] of Object.entries(data.style)) {
        if (v === null) delete props[k];
        else props[k] = scalar(v);
      }
      const text = Object.entries(props).map(([k, v]) => `${k}:${v}`).join(';');
      setAttr(el, 'style', text || null);
    }
  }
  if ('text' in data) el.text = data.text;
  if ('tail' in data) el.tail = data.tail;
}

function reparent(model, el, data, file) {
  const parent = data.parent != null ? must(model, String(data.parent), file) : el.parent;
  insert(parent, data.index ?? undefined, el);
}

function prefixOf(root, tag) {
  const sep = root.tag.indexOf(':');
  return sep < 0 ? tag : `${root.tag.slice(0, sep)}:${tag}`;
}

function metadata(model, file) {
  let meta = model.find(MODEL_ID, file);
  if (!meta) {
    const root = model.root(file);
    meta = element(prefixOf(root, 'metadata'), { id: MODEL_ID });
    insert(root, undefined, meta);
  }
  return meta;
}

const APPLY = {
  create(model, op, data, file) {
    const parent = data.parent != null ? must(model, String(data.parent), file) : model.root(file);
    let el;
    if (typeof data.markup === 'string') {
      el = parseXml(data.markup).children[0];
      el.parent = null;
      if (!op.element_id.startsWith('/')) el.attrs.id = op.element_id;
    } else {
      const root = model.root(file);
      el = element(prefixOf(root, SHAPES[data.type] ?? data.type), { id: op.element_id });
    }
    insert(parent, data.index ?? undefined, el);
    setContent(el, data);
  },
  update(model, op, data, file) {
    const el = must(model, op.element_id, file);
    if ('parent' in data || 'index' in data) reparent(model, el, data, file);
    setContent(el, data);
  },
  delete(model, op, data, file) {
    const el = must(model, op.element_id, file);
    el.parent.children.splice(el.parent.children.indexOf(el), 1);
    el.parent = null;
  },
  move(model, op, data, file) {
    const el = must(model, op.element_id, file);
    if ('parent' in data || 'index' in data) reparent(model, el, data, file);
    if (data.position) setPosition(el, data.position.x, data.position.y);
    else if ('dx' in data || 'dy' in data) translate(el, data.dx ?? 0, data.dy ?? 0, true);
  },
  resize(model, op, data, file) {
    const el = must(model, op.element_id, file);
    if ('radius' in data) setAttr(el, 'r', fmt(data.radius));
    else if (data.size) setSize(el, data.size.width, data.size.height);
    else setSize(el, data.width, data.height);
  },
  constraint_add(model, op, data, file) {
    const target = must(model, op.element_id, file);
    const elementId = target.attrs.id ?? op.element_id;
    const attrs = { element: elementId, type: data.constraint_type };
    if ('value' in data) attrs.value = scalar(data.value);
    if ('unit' in data) attrs.unit = scalar(data.unit);
    if ('targets' in data) attrs.targets = data.targets.join(' ');
    for (const [k, v] of Object.entries(data.properties ?? {})) attrs[k] = scalar(v);
    let cid = data.constraint_id;
    for (let n = 1; cid == null; n++) {
      const candidate = `${elementId}-${data.constraint_type}-${n}`;
      if (!model.find(candidate, file)) cid = candidate;
    }
    insert(metadata(model, file), undefined, element('svgx:constraint', { id: cid, ...attrs }));
  },
  constraint_remove(model, op, data, file) {
    const meta = model.find(MODEL_ID, file);
    if (!meta) return;
    const hit = (c) => localName(c.tag) === 'constraint'
      && (c.attrs.element === op.element_id || c.attrs.id === data.constraint_id)
      && (data.constraint_id == null || c.attrs.id === data.constraint_id)
      && (data.constraint_type == null || c.attrs.type === data.constraint_type);
    for (const c of meta.children.filter(hit)) meta.children.splice(meta.children.indexOf(c), 1);
  },
  assembly_update(model, op, data, file) {
    const existing = model.find(op.element_id, file);
    if (data.remove) {
      if (existing) existing.parent.children.splice(existing.parent.children.indexOf(existing), 1);
      return;
    }
    const attrs = {};
    if ('name' in data) attrs.name = data.name === null ? null : scalar(data.name);
    if ('members' in data) attrs.members = data.members.join(' ');
    for (const [k, v] of Object.entries(data.properties ?? {})) attrs[k] = v === null ? null : scalar(v);
    const el = existing ?? element('svgx:assembly', { id: op.element_id });
    for (const [k, v] of Object.entries(attrs)) setAttr(el, k, v);
    if (!existing) insert(metadata(model, file), undefined, el);
  },
};

/** A copy of a model element and its subtree (`parent` left out). */
export function cloneElement(el) {
  const copy = { tag: el.tag, attrs: { ...el.attrs }, children: [], text: el.text, tail: el.tail, parent: null };
  for (const child of el.children) {
    const c = cloneElement(child);
    c.parent = copy;
    copy.children.push(c);
  }
  return copy;
}

/** One model element and its subtree as markup (what a `create` with `markup` takes). */
export function serializeElement(el) {
  const attrs = Object.entries(el.attrs).map(([k, v]) => ` ${k}="${escapeXml(v, true)}"`).join('');
  const inner = escapeXml(el.text) + el.children.map((c) => serializeElement(c) + escapeXml(c.tail)).join('');
  return inner ? `<${el.tag}${attrs}>${inner}</${el.tag}>` : `<${el.tag}${attrs}/>`;
}

const PREVIEWABLE = new Set(['update', 'move', 'resize']);

/**
 * What an `update`, `move` or `resize` (without `parent`/`index`) would make of one
 * element, by the model's rules, without changing it: a changed copy (its subtree
 * shared), or null for any other operation. Editors draw their own edits with it
 * before the daemon's echo confirms them.
 */
export function previewOperation(el, op) {
  const data = op.data ?? {};
  if (!PREVIEWABLE.has(op.operation_type) || 'parent' in data || 'index' in data) return null;
  const copy = { ...el, attrs: { ...el.attrs } };
  const alone = { find: () => copy, root: () => copy };
  APPLY[op.operation_type](alone, op, data, undefined);
  return copy;
}

// -- the connection ---------------------------------------------------------------------

/** Reconnect delays (ms): doubling from `base`, capped, each cut by up to half at random. */
export const BACKOFF = { base: 500, factor: 2, visibleMax: 10_000, hiddenMax: 300_000, jitter: 0.5 };

/** The wait before reconnect attempt `attempt` (0-based), with jitter. */
export function backoffDelay(attempt, hidden = false, random = Math.random, numbers = BACKOFF) {
  const b = { ...BACKOFF, ...numbers };
  const cap = hidden ? b.hiddenMax : b.visibleMax;
  const full = Math.min(cap, b.base * b.factor ** attempt);
  return Math.round(full * (1 - b.jitter * random()));
}

/** localStorage when the platform has it, else an in-memory store. */
export function defaultStorage() {
  try {
    if (typeof localStorage !== 'undefined') return localStorage;
  } catch { /* storage refused (private mode): fall back to memory */ }
  return memoryStorage();
}

/** A `getItem`/`setItem`/`removeItem` store in memory (Node, tests). */
export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (k) => (items.has(k) ? items.get(k) : null),
    setItem: (k, v) => { items.set(k, String(v)); },
    removeItem: (k) => { items.delete(k); },
  };
}

const RETRYABLE = new Set(['rate_limited', 'journal_error', 'store_error', 'server_error', 'internal_error']);
const OPERATION_TYPES = [
  'create', 'update', 'delete', 'move', 'resize', 'select', 'deselect',
  'constraint_add', 'constraint_remove', 'assembly_update',
];
const STOP_CODES = new Set([1008]); // a refused token: retrying would only be refused again

function uniqueId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID().slice(0, 8);
  return Math.random().toString(36).slice(2, 10);
}

/** A live connection to one session; events: see docs/js-client.md. */
export class SvgxClient {
  constructor(url, options) {
    const { userId, username, session, token, storage, backoff, WebSocket: Socket, fetch: fetcher } = options;
    this.backoff = { ...BACKOFF, ...backoff };
    this.suspended = false;
    this.url = url;
    this.userId = userId;
    this.username = username;
    this.session = session;
    this.token = token;
    this.model = new SvgModel();
    this.lastSeq = null;
    this.state = 'idle';
    this.welcome = null;
    this.attempt = 0;
    this.listeners = new Map();
    this.requests = [];
    this.acks = new Map();
    this.storage = storage ?? defaultStorage();
    this.Socket = Socket ?? globalThis.WebSocket;
    this.fetch = fetcher ?? ((...args) => globalThis.fetch(...args));
    // op_ids: 1 to 128 of letters, digits and . _ : @ / + = ~ # - (docs/protocol.md)
    this.prefix = `${String(userId).replace(/[^A-Za-z0-9._:@/+=~#-]/g, '_').slice(0, 64)}-${uniqueId()}`;
    this.counter = 0;
    this.outbox = this.loadOutbox();
    this.closed = false;
    this.timer = null;
    this.ws = null;
    this.holding = null; // messages that wait for the welcome's named files
  }

  // events

  /** Call `fn(message)` on each event `type`; returns a function that stops it. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  /** The next event `type` for which `test(message)` holds, within `timeoutMs`. */
  next(type, test = () => true, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.on(type, (msg) => {
        if (!test(msg)) return;
        clearTimeout(timer);
        off();
        resolve(msg);
      });
    });
  }

  emit(type, message) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      try { fn(message); } catch (err) { console.error(err); }
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit('status', state);
  }

  // the socket

  /** Open the connection (connect() calls it). */
  open() {
    this.closed = false;
    this.setState('connecting');
    const ws = new this.Socket(this.url);
    this.ws = ws;
    ws.onopen = () => this.sendJoin();
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.receive(JSON.parse(event.data));
    };
    ws.onclose = (event) => this.dropped(ws, event);
    ws.onerror = () => {};
    return this;
  }

  sendJoin() {
    const join = { type: 'join', user_id: this.userId, session_id: this.session };
    if (this.username) join.username = this.username;
    if (this.token) join.token = this.token;
    if (this.lastSeq !== null) join.last_seq = this.lastSeq;
    this.ws.send(JSON.stringify(join));
  }

  /** Let go of the socket (its later events are ignored) and of the pending requests. */
  detach() {
    const ws = this.ws;
    this.ws = null;
    this.holding = null;
    for (const pending of this.requests.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(new Error('connection closed'));
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return ws;
  }

  dropped(ws, event) {
    if (ws !== this.ws) return;
    this.detach();
    if (this.closed || STOP_CODES.has(event.code)) {
      this.setState('closed');
      this.emit('close', { code: event.code, reason: event.reason });
      return;
    }
    this.setState('offline');
    if (this.suspended) return;
    const hidden = typeof document !== 'undefined' && document.hidden === true;
    const delay = backoffDelay(this.attempt++, hidden, Math.random, this.backoff);
    this.emit('reconnecting', { delay, attempt: this.attempt, code: event.code });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closed && !this.suspended) this.open();
    }, delay);
  }

  /** Stop reconnecting (say, on the page's `offline` event); edits keep going to the outbox. */
  suspend() {
    this.suspended = true;
    this.detach()?.close(1000, 'suspended by the client');
    if (!this.closed) this.setState('offline');
  }

  /** Reconnect now (say, on the page's `online` event), catching up from `lastSeq`. */
  resume() {
    this.suspended = false;
    this.attempt = 0;
    if (!this.ws && !this.closed) {
      this.detach();
      this.open();
    }
  }

  /** Close for good (no reconnect). The outbox stays in storage. */
  close() {
    this.closed = true;
    this.detach()?.close(1000, 'closed by the client');
    this.setState('closed');
  }

  send(message) {
    if (this.state !== 'live' || !this.ws) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  // what the daemon sends

  receive(msg) {
    if (this.holding) {
      // the welcome's large files are on their way: what follows waits for them
      this.holding.push(msg);
      return;
    }
    if (msg.type === 'welcome' && !msg.catch_up && msg.file_urls && Object.keys(msg.file_urls).length) {
      this.fetchNamed(msg);
      return;
    }
    if ((msg.type === 'operations' || msg.type === 'welcome') && (msg.operations ?? []).some(namesMarkup)) {
      this.fetchMarkup(msg);
      return;
    }
    this.handle(msg);
  }

  /** The address of a file the daemon names (`file_urls`, `markup_url`), with the token. */
  fileUrl(address) {
    const url = new URL(address, this.url.replace(/^ws/, 'http'));
    if (this.token) url.searchParams.set('token', this.token);
    return url;
  }

  handle(msg) {
    const handler = RECEIVE[msg.type];
    if (handler) handler(this, msg);
    this.answer(msg);
    this.emit(EVENT_NAMES[msg.type] ?? msg.type, msg);
    if (VERSION_EVENTS.has(msg.type)) this.emit('versions', msg);
    this.emit('message', msg);
  }

  welcomed(msg) {
    const moved = this.welcome && this.welcome.session_id !== msg.session_id;
    if (moved) {
      // another session (switchBranch): its own seq, and its own outbox
      this.lastSeq = null;
      this.session = msg.session_id;
      this.outbox = this.loadOutbox();
    }
    if (msg.catch_up) {
      for (const op of msg.operations ?? []) this.applyRemote(op);
    } else {
      this.model.load(msg.files ?? { 'document.svg': msg.svg }, msg.seq);
    }
    this.lastSeq = msg.seq;
    this.model.seq = msg.seq;
    this.welcome = msg;
    this.attempt = 0;
    this.setState('live');
    for (const op of this.outbox.values()) this.ws.send(JSON.stringify(op));
  }

  /**
   * A welcome that names files instead of carrying them (a large drawing, docs/protocol.md):
   * fetch each, then take the welcome with every file, then what arrived meanwhile. A
   * fetched file may hold later operations than the welcome (its `X-Svgx-Seq`); those
   * are not applied twice.
   */
  async fetchNamed(msg) {
    await this.whileFetching(async (held) => {
      const files = { ...msg.files };
      await Promise.all(Object.entries(msg.file_urls).map(async ([path, address]) => {
        const response = await this.fetch(this.fileUrl(address));
        if (!response.ok) throw new Error(`${address}: HTTP ${response.status}`);
        files[path] = await response.text();
        held.set(path, Number(response.headers.get('X-Svgx-Seq') ?? msg.seq));
      }));
      return () => ({ ...msg, files, svg: files['document.svg'] ?? null });
    });
  }

  /**
   * Operations with a file added whole that the daemon names instead of carrying (a
   * large drawing replaced by another program, docs/protocol.md): fetch it, then take
   * the operations with its markup, then what arrived meanwhile. The fetched file may
   * hold later operations (its `X-Svgx-Seq`); those are not applied twice. A file gone
   * meanwhile (404) is not added: its removal follows.
   */
  async fetchMarkup(msg) {
    await this.whileFetching(async (held) => {
      const added = new Map(); // path -> seq of the fetched file_add
      const operations = await Promise.all(msg.operations.map(async (op) => {
        if (!namesMarkup(op)) return op;
        const response = await this.fetch(this.fileUrl(op.data.markup_url));
        if (response.status === 404) return null;
        if (!response.ok) throw new Error(`${op.data.markup_url}: HTTP ${response.status}`);
        const markup = await response.text();
        const path = this.model.fileName(op.file);
        held.set(path, Math.max(held.get(path) ?? -1, Number(response.headers.get('X-Svgx-Seq') ?? op.seq)));
        added.set(path, Math.max(added.get(path) ?? -1, op.seq));
        const { markup_url: _, ...data } = op.data;
        return { ...op, data: { ...data, markup } };
      }));
      return () => ({
        ...msg,
        operations: operations.filter((op, k) => {
          if (op === null) {
            this.counted(msg.operations[k]);
            return false;
          }
          const path = this.model.fileName(op.file);
          // after the file was added and held by the fetched file: already in it
          const inFetched = op.seq > (added.get(path) ?? Infinity) && op.seq <= (held.get(path) ?? -1);
          if (inFetched) this.counted(op);
          return !inFetched;
        }),
      });
    });
  }

  /**
   * Hold what arrives while `fetching(held)` gets the files the daemon named (filling
   * `held`: path → the seq its fetched file holds); then take the message its result
   * makes, then what was held, without the operations the fetched files hold. If the
   * connection dropped meanwhile, the next welcome starts again.
   */
  async whileFetching(fetching) {
    const ws = this.ws;
    this.holding = [];
    const held = new Map();
    try {
      const ready = await fetching(held);
      if (ws !== this.ws) return;
      const queued = this.holding;
      this.holding = null;
      this.handle(ready());
      for (const next of queued) this.receive(next.type === 'operations' ? this.skipHeld(next, held) : next);
    } catch (err) {
      if (ws !== this.ws) return;
      this.holding = null;
      this.emit('error', { type: 'error', code: 'fetch_failed', message: String(err.message ?? err) });
      ws?.close(4000, 'could not fetch the files');
    }
  }

  /** An operation left out because a fetched file holds it: it counts as applied. */
  counted(op) {
    this.lastSeq = Math.max(this.lastSeq ?? op.seq, op.seq);
    this.model.seq = Math.max(this.model.seq, op.seq);
    if (op.user_id === this.userId) this.settle(op.op_id);
  }

  /** `msg` without the operations a fetched file already holds (`held`: path → its
   * seq); they count as applied. */
  skipHeld(msg, held) {
    const operations = msg.operations.filter((op) => {
      if (!(op.seq <= (held.get(this.model.fileName(op.file)) ?? -1))) return true;
      this.counted(op);
      return false;
    });
    return { ...msg, operations };
  }

  applyRemote(op) {
    if (typeof op.seq === 'number' && this.lastSeq !== null && op.seq <= this.lastSeq) return;
    try {
      this.model.apply(op);
    } catch (err) {
      this.emit('model_error', { operation: op, error: err });
    }
    if (typeof op.seq === 'number') this.lastSeq = op.seq;
    if (op.user_id === this.userId) this.settle(op.op_id);
  }

  reload(msg) {
    if (msg.files) this.model.load(msg.files, msg.seq);
    if (typeof msg.seq === 'number') this.lastSeq = msg.seq;
  }

  // the outbox: operations sent and not yet acknowledged

  storageKey() {
    return `svgx-outbox:${this.url}:${this.session}:${this.userId}`;
  }

  loadOutbox() {
    const saved = this.storage.getItem(this.storageKey());
    const ops = saved ? JSON.parse(saved) : [];
    return new Map(ops.map((op) => [op.op_id, op]));
  }

  saveOutbox() {
    if (this.outbox.size === 0) this.storage.removeItem(this.storageKey());
    else this.storage.setItem(this.storageKey(), JSON.stringify([...this.outbox.values()]));
  }

  settle(opId) {
    if (opId !== undefined && this.outbox.delete(opId)) this.saveOutbox();
  }

  /** Send one operation (any of the ten types); returns its `op_id`. Kept until acked. */
  operation(operationType, elementId, data = {}, { file, opId } = {}) {
    const op = {
      type: 'operation', operation_type: operationType, user_id: this.userId,
      element_id: elementId, data, op_id: opId ?? `${this.prefix}-${++this.counter}`,
      timestamp: Date.now() / 1000,
    };
    if (this.lastSeq !== null) op.base_seq = this.lastSeq;
    if (file) op.file = file;
    if (operationType !== 'select' && operationType !== 'deselect') {
      this.outbox.set(op.op_id, op);
      this.saveOutbox();
    }
    this.send(op);
    return op.op_id;
  }

  /** The `ack` of `opId` (at once when it has come already). */
  acked(opId, timeoutMs = 10_000) {
    if (this.acks.has(opId)) return Promise.resolve(this.acks.get(opId));
    return this.next('ack', (a) => a.op_id === opId, timeoutMs);
  }

  remember(ack) {
    this.acks.set(ack.op_id, ack);
    if (this.acks.size > 1000) this.acks.delete(this.acks.keys().next().value);
    this.settle(ack.op_id);
  }

  /** Operations not yet acknowledged, in the order they were made. */
  pending() {
    return [...this.outbox.values()];
  }

  // requests that have a reply

  /**
   * Send a request and resolve with its reply (the first message of `replies` the
   * request could have caused), or reject with the `error` the daemon answered.
   * The daemon answers in order, so pending requests wait in a queue.
   */
  request(message, replies, timeoutMs = 30_000) {
    const requestId = `${this.prefix}-r${++this.counter}`;
    return new Promise((resolve, reject) => {
      // only version requests carry a request_id the daemon echoes
      const sent = message.type === 'version' ? { ...message, request_id: requestId } : message;
      if (!this.send(sent)) {
        reject(new Error(`not connected (${this.state})`));
        return;
      }
      const pending = { requestId, replies, resolve, reject };
      pending.timer = setTimeout(() => {
        this.requests = this.requests.filter((p) => p !== pending);
        reject(new Error(`no reply to ${message.action ?? message.type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.requests.push(pending);
    });
  }

  answer(msg) {
    const head = this.requests[0];
    if (!head) return;
    const mine = msg.request_id === undefined || msg.request_id === head.requestId;
    const byOther = msg.created_by !== undefined && msg.created_by !== this.userId;
    if (msg.type === 'error' && msg.request_id !== undefined) {
      // the daemon names the request that failed: that one, wherever it waits
      const failed = this.requests.find((p) => p.requestId === msg.request_id);
      if (!failed) return;
      this.requests = this.requests.filter((p) => p !== failed);
      clearTimeout(failed.timer);
      failed.reject(Object.assign(new Error(msg.message), msg));
    } else if (msg.type === 'error' && msg.op_id === undefined) {
      this.requests.shift();
      clearTimeout(head.timer);
      head.reject(Object.assign(new Error(msg.message), msg));
    } else if (head.replies.includes(msg.type) && mine && !byOther) {
      this.requests.shift();
      clearTimeout(head.timer);
      head.resolve(msg);
    }
  }

  version(action, fields = {}) {
    return this.request({ type: 'version', action, ...fields }, VERSION_REPLIES[action]);
  }

  activity(fields) { return this.send({ type: 'activity', user_id: this.userId, ...fields }); }
  configure(strategy) { return this.send({ type: 'configure', strategy, user_id: this.userId }); }
  resolveConflict(conflictId, resolution) {
    return this.send({ type: 'resolve_conflict', conflict_id: conflictId, resolution, resolved_by: this.userId });
  }
  leave() { return this.send({ type: 'leave' }); }
  requestStatus() { return this.request({ type: 'status' }, ['status']); }

  createVersion(description) { return this.version('create_version', { created_by: this.userId, description }); }
  revert(versionId, description) {
    return this.version('revert', { version_id: versionId, created_by: this.userId, ...(description ? { description } : {}) });
  }
  history(limit) { return this.version('history', limit ? { limit } : {}); }
  createBranch(branch, fromVersion) { return this.version('create_branch', { branch, ...(fromVersion ? { from_version: fromVersion } : {}) }); }
  switchBranch(branch) { return this.version('switch_branch', { branch }); }
  listBranches() { return this.version('list_branches'); }
  diff(versionId, toVersion) { return this.version('diff', { version_id: versionId, ...(toVersion ? { to_version: toVersion } : {}) }); }
  mergeBranch(branch, description) {
    return this.version('merge_branch', { branch, created_by: this.userId, ...(description ? { description } : {}) });
  }
  completeMerge(description) { return this.version('complete_merge', { created_by: this.userId, ...(description ? { description } : {}) }); }
  abortMerge() { return this.version('abort_merge'); }
}

for (const type of OPERATION_TYPES) {
  const method = type.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
  SvgxClient.prototype[method] = function (elementId, data, options) {
    return this.operation(type, elementId, data, options);
  };
}

const VERSION_REPLIES = {
  create_version: ['version_created'], revert: ['version_reverted'], history: ['history'],
  create_branch: ['branch_created'], switch_branch: ['welcome'], list_branches: ['branches'],
  diff: ['diff'], merge_branch: ['branch_merged', 'merge_in_progress'],
  complete_merge: ['branch_merged'], abort_merge: ['merge_aborted'],
};
const VERSION_EVENTS = new Set([
  'version_created', 'version_reverted', 'history', 'branch_created', 'branches', 'diff',
  'branch_merged', 'merge_in_progress', 'merge_aborted', 'branch_switched', 'head_moved',
]);
// `status` events are the connection's state; the daemon's `status` reply is `health`.
const EVENT_NAMES = { conflict_detected: 'conflicts', presence_update: 'presence', status: 'health' };

const RECEIVE = {
  welcome: (c, m) => c.welcomed(m),
  operations: (c, m) => m.operations.forEach((op) => c.applyRemote(op)),
  ack: (c, m) => c.remember(m),
  error: (c, m) => { if (m.op_id !== undefined && !RETRYABLE.has(m.code)) c.settle(m.op_id); },
  version_reverted: (c, m) => c.reload(m),
  merge_aborted: (c, m) => c.reload(m),
};

/**
 * Connect to a daemon and join `session`. Returns the client at once; listen for
 * `welcome` (or await `client.ready`).
 */
export function connect(url, options) {
  const client = new SvgxClient(url, options);
  client.ready = client.next('welcome', () => true, options.timeoutMs ?? 30_000);
  client.ready.catch(() => {});
  return client.open();
}
