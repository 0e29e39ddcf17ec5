// The canvas: the model drawn as inline SVG, kept in step with each operation (only the
// elements an operation touched change), and the view (zoom, pan, fit, grid).

import { SvgModel } from '/svgx-client.js';
import { SVG_NS, drawable, localName, syncAttributes, syncText } from './render.js';

// The root's own geometry is the page's: the view sets viewBox and size.
const ROOT_SKIP = new Set(['width', 'height', 'viewBox', 'preserveAspectRatio', 'x', 'y']);
const MIN_SCALE = 0.01;
const MAX_SCALE = 256;

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** A model element made by one `create` alone (for drawing a create not yet confirmed). */
function elementOfCreate(op) {
  const scratch = new SvgModel();
  scratch.load({ 'x.svg': `<svg xmlns="${SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink"/>` });
  const data = { ...op.data };
  delete data.parent;
  delete data.index;
  scratch.apply({ ...op, data, file: 'x.svg' });
  const el = scratch.root('x.svg').children[0];
  el.parent = null;
  return el;
}

export class Canvas {
  /**
   * `host`: the `[data-svgx-canvas]` element; `model`: the client's SvgModel;
   * `pending(id)`: one's operations on that element not yet confirmed, in order;
   * `pendingAll()`: all of them; `preview(el, op)`: the element as `op` would leave it.
   */
  constructor(host, model, { pending, pendingAll, preview }) {
    this.host = host;
    this.model = model;
    this.pending = pending;
    this.pendingAll = pendingAll;
    this.previewer = preview;
    this.file = null;
    this.domOf = new WeakMap(); // model element -> DOM node
    this.modelOf = new WeakMap(); // DOM node -> model element
    this.shown = new WeakMap(); // DOM node -> the attributes it shows
    this.byId = new Map(); // document id -> DOM node
    this.index = new Map(); // document id -> model element
    this.view = { x: 0, y: 0, scale: 1 };
    this.viewListeners = new Set();
    this.gridOn = false;
    this.events = new EventTarget();

    this.grid = svg('svg', { class: 'svgx-grid', 'aria-hidden': 'true' });
    const defs = svg('defs');
    const minor = svg('pattern', { id: 'svgx-grid-minor', patternUnits: 'userSpaceOnUse', width: '10', height: '10' });
    minor.append(svg('path', { d: 'M 10 0 L 0 0 0 10', class: 'svgx-grid-minor' }));
    const major = svg('pattern', { id: 'svgx-grid-major', patternUnits: 'userSpaceOnUse', width: '100', height: '100' });
    major.append(svg('rect', { width: '100', height: '100', fill: 'url(#svgx-grid-minor)' }));
    major.append(svg('path', { d: 'M 100 0 L 0 0 0 100', class: 'svgx-grid-major' }));
    defs.append(minor, major);
    this.gridRect = svg('rect', { fill: 'url(#svgx-grid-major)' });
    this.gridRect.style.display = 'none';
    // the document's page (its width and height, or viewBox), under the drawing
    this.page = svg('rect', { class: 'svgx-page' });
    this.grid.append(defs, this.page, this.gridRect);

    this.svg = svg('svg', { class: 'svgx-drawing' });
    this.overlay = svg('svg', { class: 'svgx-overlay', 'data-svgx-overlay': '' });
    host.append(this.grid, this.svg, this.overlay);
    // Where the canvas is on screen, kept: reading it while a drag has the drawing's
    // layout dirty would make the browser lay out the whole drawing at every pointer move.
    this.rect = null;
    const moved = () => { this.rect = null; };
    addEventListener('resize', moved);
    addEventListener('scroll', moved, true);
    new ResizeObserver(() => { moved(); this.applyView(); }).observe(host);
  }

  // -- drawing -------------------------------------------------------------------------

  /** Draw the whole file again (after a welcome, a revert, an unknown change). */
  renderAll() {
    const model = this.model;
    this.file = model.files.size ? model.fileName() : null;
    this.byId.clear();
    this.index.clear();
    this.svg.replaceChildren();
    if (!this.file || !model.files.has(this.file)) return;
    const root = model.root(this.file);
    this.rootModel = root;
    this.domOf.set(root, this.svg);
    this.modelOf.set(this.svg, root);
    this.indexTree(root);
    const attrs = this.displayed(root);
    syncAttributes(this.svg, attrs, this.shown.get(this.svg), ROOT_SKIP);
    this.shown.set(this.svg, { ...attrs });
    this.svg.setAttribute('class', `svgx-drawing ${attrs.class ?? ''}`.trim());
    this.fillChildren(this.svg, root);
    for (const op of this.pendingCreates()) this.reconcile(op.element_id);
    const page = this.pageBox();
    for (const [k, v] of Object.entries(page ?? { x: 0, y: 0, width: 0, height: 0 })) this.page.setAttribute(k, String(v));
    this.applyView();
    this.events.dispatchEvent(new CustomEvent('svgx:rendered', { detail: { full: true } }));
  }

  indexTree(el) {
    if (el.attrs.id !== undefined) this.index.set(el.attrs.id, el);
    for (const c of el.children) this.indexTree(c);
  }

  unindexTree(el) {
    if (el.attrs.id !== undefined && this.index.get(el.attrs.id) === el) this.index.delete(el.attrs.id);
    for (const c of el.children) this.unindexTree(c);
  }

  /** The model element with this address (an id or a `/i/j` position), or undefined. */
  find(address) {
    if (!this.file || !this.model.files.has(this.file)) return undefined;
    if (address.startsWith('/')) return this.model.find(address, this.file);
    const el = this.index.get(address);
    if (!el || !this.attached(el)) return undefined;
    return el;
  }

  attached(el) {
    let at = el;
    while (at.parent) at = at.parent;
    return at === this.model.files.get(this.file);
  }

  /** The attributes an element shows: the model's, with one's unconfirmed edits on top. */
  displayed(el) {
    const id = el.attrs.id;
    if (id === undefined) return el.attrs;
    return this.predicted(el).attrs;
  }

  /** An element with one's unconfirmed update/move/resize operations applied. */
  predicted(el) {
    const id = el.attrs.id;
    let out = el;
    for (const op of id === undefined ? [] : this.pending(id)) {
      const next = this.previewer(out, op);
      if (next) out = next;
    }
    return out;
  }

  pendingCreates() {
    return this.pendingAll().filter((op) => op.operation_type === 'create');
  }

  render(el) {
    const node = document.createElementNS(SVG_NS, localName(el.tag));
    this.domOf.set(el, node);
    this.modelOf.set(node, el);
    const shown = this.predicted(el);
    syncAttributes(node, shown.attrs, null, null);
    this.shown.set(node, { ...shown.attrs });
    if (el.attrs.id !== undefined) this.byId.set(el.attrs.id, node);
    this.fillChildren(node, el, shown.text);
    return node;
  }

  fillChildren(node, el, text = el.text) {
    if (text) node.append(document.createTextNode(text));
    for (const child of el.children) {
      if (drawable(child)) node.append(this.render(child));
      if (child.tail) node.append(document.createTextNode(child.tail));
    }
  }

  forget(node) {
    const el = this.modelOf.get(node);
    if (el) this.forgetModel(el);
    node.remove();
  }

  forgetModel(el) {
    const id = el.attrs.id;
    const node = this.domOf.get(el);
    if (id !== undefined && node && this.byId.get(id) === node) this.byId.delete(id);
    for (const c of el.children) this.forgetModel(c);
  }

  /** Where an element's node goes: before the node of the next drawn sibling. */
  placeNode(node, el, parentEl) {
    const parentNode = this.domOf.get(parentEl);
    if (!parentNode) return false;
    const siblings = parentEl.children;
    let at = siblings.indexOf(el);
    let before = null;
    for (at += 1; at < siblings.length; at++) {
      const next = this.domOf.get(siblings[at]);
      if (next && next.parentNode === parentNode) { before = next; break; }
    }
    if (node.parentNode === parentNode && node.nextElementSibling === before) return true;
    parentNode.insertBefore(node, before);
    return true;
  }

  /**
   * Bring one element's node in step with the model and one's unconfirmed edits:
   * drawn, changed, moved among its siblings, or removed. Touches that element only.
   */
  reconcile(id) {
    const ops = this.pending(id);
    const lastKind = ops.length ? ops[ops.length - 1].operation_type : null;
    let el = this.find(id);
    let parentEl = el?.parent;
    if (!el && ops.some((op) => op.operation_type === 'create')) {
      const create = ops.filter((op) => op.operation_type === 'create').pop();
      el = elementOfCreate(create);
      const parentAddress = create.data.parent;
      parentEl = parentAddress != null ? this.find(String(parentAddress)) : this.rootModel;
      if (!parentEl) return;
      el.parent = parentEl;
    }
    const old = this.byId.get(id);
    if (!el || lastKind === 'delete' || !drawable(el)) {
      if (old) this.forget(old);
      return;
    }
    if (old && this.modelOf.get(old) !== el) {
      this.forget(old);
    }
    let node = this.byId.get(id);
    if (!node) {
      node = this.render(el);
      if (el.parent?.children.includes(el)) this.placeNode(node, el, parentEl);
      else this.domOf.get(parentEl)?.append(node); // unconfirmed: at the end
      return;
    }
    const shown = this.predicted(el);
    syncAttributes(node, shown.attrs, this.shown.get(node), null);
    this.shown.set(node, { ...shown.attrs });
    syncText(node, shown.text ?? '');
    if (parentEl && el.parent === parentEl && parentEl.children.includes(el)) this.placeNode(node, el, parentEl);
  }

  /**
   * After `operations` were applied to the model: change just what they touched.
   * Returns false when it drew everything again instead.
   */
  applyOperations(ops) {
    let full = false;
    const touched = [];
    for (const op of ops) {
      const kind = op.operation_type;
      if (kind === 'file_add' || kind === 'file_delete') {
        if (op.file === this.file || !this.file || !this.model.files.has(this.file)) full = true;
        continue;
      }
      if (op.file && op.file !== this.file) continue;
      if (kind === 'select' || kind === 'deselect' || kind === 'constraint_add'
        || kind === 'constraint_remove' || kind === 'assembly_update') continue;
      const id = op.element_id;
      const data = op.data ?? {};
      if (typeof id !== 'string' || id.startsWith('/')) { full = true; continue; }
      if (kind === 'update' && data.attributes && 'id' in data.attributes) { full = true; continue; }
      if ('tail' in data) { full = true; continue; }
      if (kind === 'create') {
        const el = this.locateCreated(op);
        if (el) this.indexTree(el);
      }
      if (kind === 'delete') {
        const gone = this.index.get(id);
        if (gone && !this.attached(gone)) this.unindexTree(gone);
      }
      touched.push(id);
    }
    if (full) {
      this.renderAll();
      return false;
    }
    for (const id of touched) this.reconcile(id);
    this.events.dispatchEvent(new CustomEvent('svgx:rendered', { detail: { full: false, ids: touched } }));
    return true;
  }

  locateCreated(op) {
    const data = op.data ?? {};
    const parent = data.parent != null ? this.find(String(data.parent)) : this.rootModel;
    if (!parent) return undefined;
    if (typeof data.index === 'number') {
      const hit = parent.children[Math.min(data.index, parent.children.length - 1)];
      if (hit?.attrs.id === op.element_id) return hit;
    }
    for (let k = parent.children.length - 1; k >= 0; k--) {
      if (parent.children[k].attrs.id === op.element_id) return parent.children[k];
    }
    return undefined;
  }

  /** The element with this address as shown: the model's, or one's unconfirmed create. */
  current(address) {
    return this.find(address) ?? this.modelOf.get(this.byId.get(address));
  }

  /** The DOM node of a document id (or position), or null. */
  elementFor(id) {
    const byId = this.byId.get(id);
    if (byId) return byId;
    if (id.startsWith('/')) {
      const el = this.find(id);
      return (el && this.domOf.get(el)) ?? null;
    }
    return null;
  }

  /** The model element a DOM node draws. */
  modelFor(node) {
    return this.modelOf.get(node);
  }

  // -- the view --------------------------------------------------------------------------

  /** The canvas's box on screen (kept until the page is resized or scrolled). */
  hostRect() {
    if (!this.rect) this.rect = this.host.getBoundingClientRect();
    return this.rect;
  }

  size() {
    const r = this.hostRect();
    return { width: Math.max(1, r.width), height: Math.max(1, r.height) };
  }

  applyView() {
    const { width, height } = this.size();
    const { x, y, scale } = this.view;
    const box = `${x} ${y} ${width / scale} ${height / scale}`;
    for (const layer of [this.svg, this.overlay, this.grid]) {
      layer.setAttribute('viewBox', box);
      layer.setAttribute('preserveAspectRatio', 'none');
    }
    this.gridRect.setAttribute('x', String(Math.floor(x / 100) * 100));
    this.gridRect.setAttribute('y', String(Math.floor(y / 100) * 100));
    this.gridRect.setAttribute('width', String(width / scale + 200));
    this.gridRect.setAttribute('height', String(height / scale + 200));
    this.host.style.setProperty('--svgx-scale', String(scale));
    for (const fn of this.viewListeners) fn(this.view);
  }

  onViewChange(fn) {
    this.viewListeners.add(fn);
    return () => this.viewListeners.delete(fn);
  }

  /** Document coordinates of a point on screen. */
  toDocument(clientX, clientY) {
    const r = this.hostRect();
    return { x: this.view.x + (clientX - r.left) / this.view.scale, y: this.view.y + (clientY - r.top) / this.view.scale };
  }

  /** Zoom by `factor` keeping the document point under (clientX, clientY) in place. */
  zoom(factor, clientX, clientY) {
    const r = this.hostRect();
    const cx = clientX ?? r.left + r.width / 2;
    const cy = clientY ?? r.top + r.height / 2;
    const before = this.toDocument(cx, cy);
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.view.scale * factor));
    this.view = { scale, x: before.x - (cx - r.left) / scale, y: before.y - (cy - r.top) / scale };
    this.applyView();
  }

  /** Pan by screen pixels. */
  pan(dxPixels, dyPixels) {
    this.view = { ...this.view, x: this.view.x - dxPixels / this.view.scale, y: this.view.y - dyPixels / this.view.scale };
    this.applyView();
  }

  /** Zoom 1:1 around the view's centre. */
  actualSize() {
    this.zoom(1 / this.view.scale);
  }

  /** The page the root declares (viewBox, else width and height), or null. */
  pageBox() {
    const attrs = this.rootModel?.attrs ?? {};
    const vb = (attrs.viewBox ?? '').trim().split(/[\s,]+/).map(Number);
    if (vb.length === 4 && vb.every(Number.isFinite) && vb[2] > 0 && vb[3] > 0) {
      return { x: vb[0], y: vb[1], width: vb[2], height: vb[3] };
    }
    const w = parseFloat(attrs.width);
    const h = parseFloat(attrs.height);
    if (w > 0 && h > 0 && !/%$/.test(attrs.width) && !/%$/.test(attrs.height)) return { x: 0, y: 0, width: w, height: h };
    return null;
  }

  /** The drawing's extent in document coordinates. */
  drawingBox() {
    let box = this.pageBox();
    try {
      const b = this.svg.getBBox();
      if (b.width > 0 || b.height > 0) {
        const x = Math.min(b.x, box?.x ?? b.x);
        const y = Math.min(b.y, box?.y ?? b.y);
        const right = Math.max(b.x + b.width, box ? box.x + box.width : -Infinity);
        const bottom = Math.max(b.y + b.height, box ? box.y + box.height : -Infinity);
        box = { x, y, width: right - x, height: bottom - y };
      }
    } catch { /* not rendered yet */ }
    return box ?? { x: 0, y: 0, width: 800, height: 600 };
  }

  /** Show the whole drawing, with a margin. */
  fit() {
    const box = this.drawingBox();
    const { width, height } = this.size();
    const margin = 24;
    const scale = Math.min(MAX_SCALE, Math.max(MIN_SCALE, Math.min(
      (width - 2 * margin) / Math.max(box.width, 1), (height - 2 * margin) / Math.max(box.height, 1),
    )));
    this.view = {
      scale,
      x: box.x + box.width / 2 - width / 2 / scale,
      y: box.y + box.height / 2 - height / 2 / scale,
    };
    this.applyView();
  }

  toggleGrid(on = !this.gridOn) {
    this.gridOn = on;
    this.gridRect.style.display = on ? '' : 'none';
    this.host.dataset.grid = on ? 'on' : 'off';
    return on;
  }

  // -- geometry of drawn elements ----------------------------------------------------------

  /** The matrix from a node's own user space to document coordinates. */
  matrixOf(node) {
    const rootInverse = this.svg.getScreenCTM()?.inverse();
    const own = node.getScreenCTM();
    if (!rootInverse || !own) return new DOMMatrix();
    return DOMMatrix.fromMatrix(rootInverse).multiply(DOMMatrix.fromMatrix(own));
  }

  /** A node's bounding box in document coordinates (axis-aligned), or null. */
  boxOf(node) {
    let b;
    try { b = node.getBBox(); } catch { return null; }
    const m = this.matrixOf(node);
    const pts = [[b.x, b.y], [b.x + b.width, b.y], [b.x, b.y + b.height], [b.x + b.width, b.y + b.height]]
      .map(([x, y]) => new DOMPoint(x, y).matrixTransform(m));
    const xs = pts.map((p) => p.x);
    const ys = pts.map((p) => p.y);
    const x = Math.min(...xs);
    const y = Math.min(...ys);
    return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
  }
}
