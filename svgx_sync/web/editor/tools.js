// The tools: select (click, shift-click, marquee), move (drag, arrow keys), resize
// (handles), draw rect / ellipse / line / polyline / text, pan and zoom; and the actions
// (delete, duplicate, bring forward, send back). Every edit is an operation sent through
// the history; drags are drawn locally at display rate and sent once, on release.

import { cloneElement, previewOperation, serializeElement } from '/svgx-client.js';
import { SVG_NS, drawable, localName, syncAttributes } from './render.js';
import { addressOf } from './edits.js';
import { BOX_HANDLES } from './selection.js';

const ATTRIBUTE_MOVED = new Set([
  'rect', 'image', 'use', 'svg', 'pattern', 'mask', 'filter', 'text', 'tspan', 'circle', 'ellipse',
  'line', 'polyline', 'polygon',
]);
const NOT_SELECTABLE = new Set(['defs', 'metadata', 'style', 'title', 'desc', 'namedview', 'script']);
const DEFAULTS = { fill: '#d9e8fb', stroke: '#2b5797', 'stroke-width': '2' };
const LINE_DEFAULTS = { fill: 'none', stroke: '#2b5797', 'stroke-width': '2' };
const CLICK_SIZE = { width: 80, height: 50 };

const num = (v, d = 0) => {
  const n = parseFloat(v);
  return Number.isFinite(n) ? n : d;
};

/** A rounding step that suits the zoom: 1 unit at 100 %, finer when zoomed in. */
export function stepFor(scale) {
  return Math.min(1, 10 ** Math.floor(Math.log10(1 / scale)));
}

const snap = (v, step) => Math.round(v / step) * step;
const tidy = (v) => Math.round(v * 1e6) / 1e6;
// The browser's matrices and boxes are single precision: 0.99999994 is 1, 142.6000061 is 142.6.
const single = (v) => Number(v.toPrecision(6));
const cleanBox = (b) => ({ x: single(b.x), y: single(b.y), width: single(b.width), height: single(b.height) });

function newId(canvas, kind) {
  for (;;) {
    const id = `${kind}-${Math.random().toString(36).slice(2, 8)}`;
    if (!canvas.current(id)) return id;
  }
}

function isLayer(el) {
  return localName(el.tag) === 'g' && el.attrs['inkscape:groupmode'] === 'layer';
}

export class Tools {
  constructor({ canvas, edits, history, selection, host }) {
    this.canvas = canvas;
    this.edits = edits;
    this.history = history;
    this.selection = selection;
    this.host = host;
    this.tool = 'select';
    this.readOnly = false;
    this.drag = null;
    this.frame = 0;
    this.space = false;
    this.poly = null;
    this.nudge = null;
    this.listeners = new Set();
    this.draftLayer = document.createElementNS(SVG_NS, 'g');
    this.draftLayer.setAttribute('class', 'svgx-drafts');
    canvas.overlay.append(this.draftLayer);

    host.addEventListener('pointerdown', (e) => this.down(e));
    host.addEventListener('pointermove', (e) => this.moveTo(e));
    host.addEventListener('pointerup', (e) => this.up(e));
    host.addEventListener('pointercancel', () => this.cancel());
    host.addEventListener('dblclick', (e) => this.doubleClick(e));
    host.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    host.addEventListener('click', (e) => e.preventDefault()); // links in a drawing do not navigate
    host.addEventListener('auxclick', (e) => e.preventDefault());
    host.addEventListener('contextmenu', (e) => { if (this.drag) e.preventDefault(); });
  }

  setTool(name) {
    if (this.readOnly && name !== 'select') return;
    this.finishPolyline();
    this.tool = name;
    this.host.dataset.tool = name;
    for (const fn of this.listeners) fn(name);
  }

  onToolChange(fn) { this.listeners.add(fn); }

  setReadOnly(on) {
    this.readOnly = on;
    if (on) this.setTool('select');
  }

  // -- picking -----------------------------------------------------------------------------

  /** The element a click on `target` picks: the top-level one, or the deepest with alt. */
  pick(target, deep) {
    let node = target;
    while (node && node !== this.canvas.svg && !this.canvas.modelFor(node)) node = node.parentNode;
    if (!node || node === this.canvas.svg) return null;
    let el = this.canvas.modelFor(node);
    if (!el) return null;
    if (!deep) {
      while (el.parent && el.parent !== this.canvas.rootModel && !isLayer(el.parent)
        && this.canvas.modelFor(this.canvas.domOf.get(el.parent))) el = el.parent;
    }
    if (isLayer(el) || NOT_SELECTABLE.has(localName(el.tag))) return null;
    return addressOf(el);
  }

  /** The top-level elements (children of the root or of layers) that are drawn. */
  *selectable(parent = this.canvas.rootModel) {
    for (const child of parent?.children ?? []) {
      if (!drawable(child) || NOT_SELECTABLE.has(localName(child.tag))) continue;
      if (isLayer(child)) yield* this.selectable(child);
      else yield child;
    }
  }

  // -- pointer -----------------------------------------------------------------------------

  down(e) {
    if (e.target.closest?.('.svgx-text-input')) return;
    const point = this.canvas.toDocument(e.clientX, e.clientY);
    if (e.button === 1 || (e.button === 0 && this.space)) {
      e.preventDefault();
      this.begin(e, { kind: 'pan', last: { x: e.clientX, y: e.clientY } });
      return;
    }
    if (e.button !== 0) return;
    const step = stepFor(this.canvas.view.scale);
    if (this.tool === 'select') {
      const handle = e.target.getAttribute?.('data-svgx-handle');
      if (handle && !this.readOnly) {
        this.beginResize(e, handle, point);
        return;
      }
      const address = this.pick(e.target, e.altKey);
      if (!address) {
        if (!e.shiftKey) this.selection.set([]);
        const rect = document.createElementNS(SVG_NS, 'rect');
        rect.setAttribute('class', 'svgx-marquee');
        rect.setAttribute('data-svgx-marquee', '');
        this.draftLayer.append(rect);
        this.begin(e, { kind: 'marquee', start: point, point, rect, keep: e.shiftKey ? this.selection.ids() : [] });
        return;
      }
      if (e.shiftKey) {
        this.selection.toggle(address);
        return;
      }
      if (!this.selection.has(address)) this.selection.set([address]);
      if (!this.readOnly) this.beginMove(e, point);
      return;
    }
    if (this.readOnly) return;
    const p = { x: snap(point.x, step), y: snap(point.y, step) };
    if (this.tool === 'polyline') {
      this.addPolylinePoint(p);
      return;
    }
    if (this.tool === 'text') {
      e.preventDefault();
      this.textInput(p, '', (text) => this.createText(p, text));
      return;
    }
    const tag = { rect: 'rect', ellipse: 'ellipse', line: 'line' }[this.tool];
    const draft = document.createElementNS(SVG_NS, tag);
    draft.setAttribute('class', 'svgx-draft');
    this.draftLayer.append(draft);
    this.begin(e, { kind: 'draw', start: p, point: p, draft, tag });
  }

  begin(e, drag) {
    this.drag = { ...drag, pointerId: e.pointerId, moved: false, origin: { x: e.clientX, y: e.clientY } };
    try { this.host.setPointerCapture(e.pointerId); } catch { /* not a live pointer */ }
  }

  moveTo(e) {
    const drag = this.drag;
    if (this.poly) this.poly.hover = this.canvas.toDocument(e.clientX, e.clientY);
    if (this.poly && !drag) this.schedule();
    if (!drag || e.pointerId !== drag.pointerId) return;
    if (Math.abs(e.clientX - drag.origin.x) + Math.abs(e.clientY - drag.origin.y) > 2) drag.moved = true;
    if (drag.kind === 'pan') {
      this.canvas.pan(e.clientX - drag.last.x, e.clientY - drag.last.y);
      drag.last = { x: e.clientX, y: e.clientY };
      return;
    }
    const point = this.canvas.toDocument(e.clientX, e.clientY);
    const step = stepFor(this.canvas.view.scale);
    drag.point = drag.kind === 'marquee' ? point : { x: snap(point.x, step), y: snap(point.y, step) };
    drag.shift = e.shiftKey;
    this.schedule();
  }

  /** Draw the drag's preview at the next frame (once per frame however many moves). */
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.preview();
    });
  }

  preview() {
    const drag = this.drag;
    if (this.poly) this.drawPolyline();
    if (!drag) return;
    if (drag.kind === 'move') {
      for (const item of drag.items) this.show(item, this.moveOp(item, drag));
      this.shiftOutlines(drag);
    } else if (drag.kind === 'resize') {
      const op = this.resizeOp(drag);
      if (op) this.show(drag.item, op);
      this.selection.draw();
    } else if (drag.kind === 'marquee') {
      const r = this.box(drag.start, drag.point);
      for (const [k, v] of Object.entries(r)) drag.rect.setAttribute(k, String(v));
    } else if (drag.kind === 'draw') {
      this.drawDraft(drag);
    }
  }

  /** Show an item's element as `op` would leave it (its DOM node only). */
  show(item, op) {
    if (!op) return;
    const shown = previewOperation(item.base, { operation_type: op.type, element_id: op.id, data: op.data }) ?? item.base;
    syncAttributes(item.node, shown.attrs, this.canvas.shown.get(item.node), null);
    this.canvas.shown.set(item.node, { ...shown.attrs });
  }

  up(e) {
    const drag = this.drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    if (this.frame) { cancelAnimationFrame(this.frame); this.frame = 0; }
    this.drag = null;
    if (drag.kind === 'move') this.endMove(drag);
    else if (drag.kind === 'resize') this.endResize(drag);
    else if (drag.kind === 'marquee') this.endMarquee(drag);
    else if (drag.kind === 'draw') this.endDraw(drag);
  }

  cancel() {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    for (const item of drag.items ?? (drag.item ? [drag.item] : [])) this.canvas.reconcile(item.id);
    this.selection.layer.removeAttribute('transform');
    drag.rect?.remove();
    drag.draft?.remove();
    this.selection.draw();
  }

  box(a, b) {
    return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), width: Math.abs(b.x - a.x), height: Math.abs(b.y - a.y) };
  }

  // -- move --------------------------------------------------------------------------------

  /** What a move needs of one element: its node, what it shows, the matrix for deltas. */
  item(address) {
    const node = this.canvas.elementFor(address);
    const el = this.canvas.current(address);
    if (!node || !el) return null;
    const moved = ATTRIBUTE_MOVED.has(localName(el.tag));
    const space = moved ? node : node.parentNode;
    const inverse = this.canvas.matrixOf(space).inverse();
    return { id: address, node, el, base: this.canvas.predicted(el), inverse };
  }

  /** A delta in document coordinates as a delta in the item's own coordinates. */
  local(item, dx, dy) {
    const m = item.inverse;
    const [a, b, c, d] = [m.a, m.b, m.c, m.d].map(single);
    return { dx: tidy(a * dx + c * dy), dy: tidy(b * dx + d * dy) };
  }

  beginMove(e, point) {
    const items = this.selection.ids().map((a) => this.item(a)).filter(Boolean);
    if (!items.length) return;
    const step = stepFor(this.canvas.view.scale);
    const start = { x: snap(point.x, step), y: snap(point.y, step) };
    this.begin(e, { kind: 'move', items, start, point: start });
  }

  /** The drag's delta in document coordinates (shift: along one axis). */
  delta(drag) {
    let dx = drag.point.x - drag.start.x;
    let dy = drag.point.y - drag.start.y;
    if (drag.shift) { if (Math.abs(dx) > Math.abs(dy)) dy = 0; else dx = 0; }
    return { dx, dy };
  }

  moveOp(item, drag) {
    const { dx, dy } = this.delta(drag);
    return { type: 'move', id: item.id, data: this.local(item, dx, dy) };
  }

  /**
   * The outlines follow a move by a translation of their layer: nothing is measured
   * while the pointer moves (measuring would lay out the whole drawing each frame).
   */
  shiftOutlines(drag) {
    const { dx, dy } = this.delta(drag);
    this.selection.layer.setAttribute('transform', `translate(${dx} ${dy})`);
  }

  endMove(drag) {
    this.selection.layer.removeAttribute('transform');
    const ops = drag.items.map((item) => this.moveOp(item, drag));
    if (!drag.moved || ops.every((op) => op.data.dx === 0 && op.data.dy === 0)) {
      for (const item of drag.items) this.canvas.reconcile(item.id);
      return;
    }
    this.history.apply(ops, 'move');
    this.selection.draw();
  }

  /** Arrow keys: move the selection by `dx`, `dy` (document units); sent on key release. */
  nudgeBy(dx, dy) {
    if (this.readOnly || !this.selection.ids().length) return;
    if (!this.nudge) {
      const items = this.selection.ids().map((a) => this.item(a)).filter(Boolean);
      this.nudge = { items, start: { x: 0, y: 0 }, point: { x: 0, y: 0 } };
    }
    this.nudge.point = { x: this.nudge.point.x + dx, y: this.nudge.point.y + dy };
    for (const item of this.nudge.items) this.show(item, this.moveOp(item, this.nudge));
    this.shiftOutlines(this.nudge);
    clearTimeout(this.nudge.timer);
    this.nudge.timer = setTimeout(() => this.endNudge(), 600);
  }

  endNudge() {
    const nudge = this.nudge;
    if (!nudge) return;
    this.nudge = null;
    clearTimeout(nudge.timer);
    this.selection.layer.removeAttribute('transform');
    const ops = nudge.items.map((item) => this.moveOp(item, nudge));
    if (ops.some((op) => op.data.dx !== 0 || op.data.dy !== 0)) this.history.apply(ops, 'move');
    this.selection.draw();
  }

  // -- resize ------------------------------------------------------------------------------

  beginResize(e, handle, point) {
    const [address] = this.selection.ids();
    const item = this.item(address);
    if (!item) return;
    let bbox;
    try { bbox = cleanBox(item.node.getBBox()); } catch { return; }
    item.toLocal = this.canvas.matrixOf(item.node).inverse();
    this.begin(e, { kind: 'resize', item, handle, bbox, point });
  }

  resizeOp(drag) {
    const { item, handle, bbox: b } = drag;
    const p = new DOMPoint(drag.point.x, drag.point.y).matrixTransform(item.toLocal);
    const tag = localName(item.el.tag);
    const attrs = item.base.attrs;
    const step = stepFor(this.canvas.view.scale);
    const px = tidy(snap(p.x, step));
    const py = tidy(snap(p.y, step));
    if (handle === 'p1' || handle === 'p2') {
      const k = handle === 'p1' ? '1' : '2';
      return { type: 'update', id: item.id, data: { attributes: { [`x${k}`]: px, [`y${k}`]: py } } };
    }
    const [fx, fy] = BOX_HANDLES[handle];
    let [x0, x1, y0, y1] = [b.x, b.x + b.width, b.y, b.y + b.height];
    if (fx === 0) x0 = px;
    if (fx === 1) x1 = px;
    if (fy === 0) y0 = py;
    if (fy === 1) y1 = py;
    const x = tidy(Math.min(x0, x1));
    const y = tidy(Math.min(y0, y1));
    const width = tidy(Math.max(step, Math.abs(x1 - x0)));
    const height = tidy(Math.max(step, Math.abs(y1 - y0)));
    const same = (a, c) => Math.abs(a - c) < 1e-9;
    if (tag === 'text') {
      const size = num(attrs['font-size'], 16);
      return { type: 'resize', id: item.id, data: { size: { width, height: tidy(Math.max(1, size * height / Math.max(b.height, 1e-6))) } } };
    }
    if (tag === 'circle') {
      const r = tidy(Math.min(width, height) / 2);
      const cx = tidy(fx === 0 ? x1 - r : x0 + r);
      const cy = tidy(fy === 0 ? y1 - r : y0 + r);
      if (same(cx, num(attrs.cx)) && same(cy, num(attrs.cy))) return { type: 'resize', id: item.id, data: { radius: r } };
      return { type: 'update', id: item.id, data: { position: { x: cx, y: cy }, size: { width: 2 * r, height: 2 * r } } };
    }
    if (tag === 'ellipse') {
      const cx = tidy(x + width / 2);
      const cy = tidy(y + height / 2);
      const size = { width, height };
      if (same(cx, num(attrs.cx)) && same(cy, num(attrs.cy))) return { type: 'resize', id: item.id, data: { size } };
      return { type: 'update', id: item.id, data: { position: { x: cx, y: cy }, size } };
    }
    const size = { width, height };
    if (same(x, b.x) && same(y, b.y)) return { type: 'resize', id: item.id, data: { size } };
    return { type: 'update', id: item.id, data: { position: { x, y }, size } };
  }

  endResize(drag) {
    const op = drag.moved ? this.resizeOp(drag) : null;
    if (!op) {
      this.canvas.reconcile(drag.item.id);
      return;
    }
    this.history.apply([op], 'resize');
    this.selection.draw();
  }

  // -- marquee -----------------------------------------------------------------------------

  endMarquee(drag) {
    drag.rect.remove();
    if (!drag.moved) return;
    const m = this.box(drag.start, drag.point);
    const hits = [];
    for (const el of this.selectable()) {
      const node = this.canvas.domOf.get(el);
      const b = node && this.canvas.boxOf(node);
      if (!b) continue;
      if (b.x <= m.x + m.width && b.x + b.width >= m.x && b.y <= m.y + m.height && b.y + b.height >= m.y) {
        hits.push(addressOf(el));
      }
    }
    this.selection.set([...drag.keep, ...hits]);
  }

  // -- drawing shapes ------------------------------------------------------------------------

  drawDraft(drag) {
    const { start: a, point: b, draft, tag } = drag;
    if (tag === 'line') {
      for (const [k, v] of Object.entries({ x1: a.x, y1: a.y, x2: b.x, y2: b.y })) draft.setAttribute(k, String(v));
      return;
    }
    const r = this.box(a, b);
    if (tag === 'rect') {
      for (const [k, v] of Object.entries(r)) draft.setAttribute(k, String(v));
    } else {
      draft.setAttribute('cx', String(r.x + r.width / 2));
      draft.setAttribute('cy', String(r.y + r.height / 2));
      draft.setAttribute('rx', String(r.width / 2));
      draft.setAttribute('ry', String(r.height / 2));
    }
  }

  endDraw(drag) {
    drag.draft.remove();
    const a = drag.start;
    let b = drag.point;
    if (!drag.moved) b = { x: a.x + CLICK_SIZE.width, y: a.y + CLICK_SIZE.height };
    const r = this.box(a, b);
    const rect = { x: tidy(r.x), y: tidy(r.y), width: tidy(r.width), height: tidy(r.height) };
    let op;
    if (drag.tag === 'rect') {
      op = { type: 'create', id: newId(this.canvas, 'rect'), data: {
        type: 'rectangle', position: { x: rect.x, y: rect.y }, size: { width: rect.width, height: rect.height }, attributes: { ...DEFAULTS },
      } };
    } else if (drag.tag === 'ellipse') {
      op = { type: 'create', id: newId(this.canvas, 'ellipse'), data: {
        type: 'ellipse', position: { x: tidy(rect.x + rect.width / 2), y: tidy(rect.y + rect.height / 2) },
        size: { width: rect.width, height: rect.height }, attributes: { ...DEFAULTS },
      } };
    } else {
      op = { type: 'create', id: newId(this.canvas, 'line'), data: {
        type: 'line', attributes: { x1: tidy(a.x), y1: tidy(a.y), x2: tidy(b.x), y2: tidy(b.y), ...LINE_DEFAULTS },
      } };
    }
    this.history.apply([op], `draw ${drag.tag}`);
    this.selection.set([op.id]);
    this.setTool('select');
  }

  addPolylinePoint(p) {
    if (!this.poly) {
      const draft = document.createElementNS(SVG_NS, 'polyline');
      draft.setAttribute('class', 'svgx-draft');
      this.draftLayer.append(draft);
      this.poly = { points: [], draft, hover: p };
    }
    const last = this.poly.points[this.poly.points.length - 1];
    if (!last || last.x !== p.x || last.y !== p.y) this.poly.points.push(p);
    this.drawPolyline();
  }

  drawPolyline() {
    const poly = this.poly;
    if (!poly) return;
    const pts = [...poly.points, ...(poly.hover ? [poly.hover] : [])];
    poly.draft.setAttribute('points', pts.map((p) => `${p.x},${p.y}`).join(' '));
  }

  /** Finish the polyline being drawn (double-click, Enter); fewer than two points: dropped. */
  finishPolyline() {
    const poly = this.poly;
    if (!poly) return;
    this.poly = null;
    poly.draft.remove();
    if (poly.points.length < 2) return;
    const id = newId(this.canvas, 'polyline');
    const points = poly.points.map((p) => `${tidy(p.x)},${tidy(p.y)}`).join(' ');
    this.history.apply([{ type: 'create', id, data: { type: 'polyline', attributes: { points, ...LINE_DEFAULTS } } }], 'draw polyline');
    this.selection.set([id]);
    this.setTool('select');
  }

  cancelPolyline() {
    this.poly?.draft.remove();
    this.poly = null;
  }

  createText(p, text) {
    if (!text) return;
    const id = newId(this.canvas, 'text');
    this.history.apply([{ type: 'create', id, data: {
      type: 'text', position: { x: tidy(p.x), y: tidy(p.y) }, text, attributes: { 'font-size': '24', fill: '#1d1d1f' },
    } }], 'text');
    this.selection.set([id]);
    this.setTool('select');
  }

  /** An input over the canvas at document point `p`; `done(text)` on Enter or blur. */
  textInput(p, value, done) {
    const input = document.createElement('input');
    input.type = 'text';
    input.className = 'svgx-text-input';
    input.value = value;
    input.setAttribute('aria-label', 'Text');
    const hostBox = this.host.getBoundingClientRect();
    const screen = { x: (p.x - this.canvas.view.x) * this.canvas.view.scale, y: (p.y - this.canvas.view.y) * this.canvas.view.scale };
    input.style.left = `${screen.x}px`;
    input.style.top = `${Math.max(0, Math.min(hostBox.height - 30, screen.y - 24))}px`;
    let finished = false;
    const finish = (keep) => {
      if (finished) return;
      finished = true;
      const text = input.value;
      input.remove();
      if (keep) done(text);
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Enter') finish(true);
      else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true));
    this.host.append(input);
    requestAnimationFrame(() => input.focus());
    input.focus();
    return input;
  }

  doubleClick(e) {
    if (this.tool === 'polyline') {
      this.finishPolyline();
      return;
    }
    if (this.tool !== 'select' || this.readOnly) return;
    const address = this.pick(e.target, true);
    const el = address && this.canvas.current(address);
    if (!el || localName(el.tag) !== 'text' || el.children.length) return;
    const shown = this.canvas.predicted(el);
    const p = { x: num(shown.attrs.x), y: num(shown.attrs.y) };
    this.textInput(p, shown.text ?? '', (text) => {
      if (text !== (shown.text ?? '')) this.history.apply([{ type: 'update', id: address, data: { text } }], 'text');
    });
  }

  // -- the view ------------------------------------------------------------------------------

  wheel(e) {
    e.preventDefault();
    if (e.ctrlKey || e.metaKey) {
      this.canvas.zoom(Math.exp(-e.deltaY * 0.01), e.clientX, e.clientY);
    } else if (e.shiftKey && !e.deltaX) {
      this.canvas.pan(-e.deltaY, 0);
    } else {
      this.canvas.pan(-e.deltaX, -e.deltaY);
    }
  }

  // -- actions -------------------------------------------------------------------------------

  /** The selection without elements inside other selected ones. */
  topSelected() {
    const ids = this.selection.ids();
    const els = new Set(ids.map((a) => this.canvas.current(a)).filter(Boolean));
    return ids.filter((a) => {
      for (let p = this.canvas.current(a)?.parent; p; p = p.parent) if (els.has(p)) return false;
      return true;
    });
  }

  deleteSelected() {
    const ids = this.topSelected();
    if (this.readOnly || !ids.length) return;
    this.history.apply(ids.map((id) => ({ type: 'delete', id, data: {} })), 'delete');
    this.selection.set([]);
  }

  duplicateSelected() {
    const ids = this.topSelected();
    if (this.readOnly || !ids.length) return;
    const ops = [];
    for (const address of ids) {
      const item = this.item(address);
      if (!item) continue;
      const copy = cloneElement(item.el);
      copy.attrs = { ...item.base.attrs };
      const rename = (el) => {
        if (el.attrs.id !== undefined) el.attrs.id = newId(this.canvas, localName(el.tag));
        el.children.forEach(rename);
      };
      rename(copy);
      const moved = previewOperation(copy, { operation_type: 'move', element_id: copy.attrs.id, data: this.local(item, 10, 10) }) ?? copy;
      copy.attrs = moved.attrs;
      const id = copy.attrs.id ?? newId(this.canvas, localName(copy.tag));
      copy.attrs.id = id;
      const data = { markup: serializeElement(copy) };
      const parent = item.el.parent;
      if (parent && parent !== this.canvas.rootModel) data.parent = addressOf(parent);
      const at = parent?.children.indexOf(item.el) ?? -1;
      if (at >= 0) data.index = at + 1;
      ops.push({ type: 'create', id, data });
    }
    if (!ops.length) return;
    this.history.apply(ops, 'duplicate');
    this.selection.set(ops.map((op) => op.id));
  }

  /** Bring the selection one step forward (`by` 1) or send it one step back (`by` -1). */
  restack(by) {
    const ids = this.topSelected();
    if (this.readOnly || !ids.length) return;
    const ops = [];
    const order = ids
      .map((id) => ({ id, el: this.canvas.find(id) }))
      .filter((x) => x.el?.parent)
      .map((x) => ({ ...x, at: x.el.parent.children.indexOf(x.el) }))
      .sort((a, b) => (by > 0 ? b.at - a.at : a.at - b.at));
    for (const { id, el, at } of order) {
      const to = at + by;
      if (to < 0 || to >= el.parent.children.length) continue;
      ops.push({ type: 'move', id, data: { index: to } });
    }
    if (ops.length) this.history.apply(ops, by > 0 ? 'bring forward' : 'send back');
  }
}
