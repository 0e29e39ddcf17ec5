// One's own selection: the addresses selected, their outlines and resize handles in the
// overlay, and `document.body.dataset.svgxSelected` for tests.

import { SVG_NS, localName } from './render.js';

const BOX_HANDLES = {
  nw: [0, 0], n: [0.5, 0], ne: [1, 0], e: [1, 0.5], se: [1, 1], s: [0.5, 1], sw: [0, 1], w: [0, 0.5],
};
const RESIZABLE = new Set(['rect', 'image', 'use', 'svg', 'ellipse', 'circle', 'polyline', 'polygon']);
const HANDLE_PX = 8;

/** Which handles an element kind has: box handles, line ends, a corner for text, none. */
export function handlesFor(tag) {
  const kind = localName(tag);
  if (RESIZABLE.has(kind)) return kind === 'circle' ? ['nw', 'ne', 'se', 'sw'] : Object.keys(BOX_HANDLES);
  if (kind === 'line') return ['p1', 'p2'];
  if (kind === 'text') return ['se'];
  return [];
}

export { BOX_HANDLES };

export class Selection {
  constructor(canvas) {
    this.canvas = canvas;
    this.selected = [];
    this.listeners = new Set();
    this.layer = document.createElementNS(SVG_NS, 'g');
    this.layer.setAttribute('data-svgx-selection', '');
    canvas.overlay.append(this.layer);
    this.readOnly = false;
    canvas.onViewChange(() => this.draw());
  }

  ids() { return [...this.selected]; }

  has(address) { return this.selected.includes(address); }

  set(addresses) {
    const next = [...new Set(addresses)].filter((a) => this.canvas.elementFor(a));
    const same = next.length === this.selected.length && next.every((a, k) => a === this.selected[k]);
    this.selected = next;
    this.draw();
    if (!same) for (const fn of this.listeners) fn(this.ids());
  }

  toggle(address) {
    this.set(this.has(address) ? this.selected.filter((a) => a !== address) : [...this.selected, address]);
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Drop what no longer exists and draw the outlines again. */
  refresh() {
    const alive = this.selected.filter((a) => this.canvas.elementFor(a));
    if (alive.length !== this.selected.length) this.set(alive);
    else this.draw();
  }

  /** The outlines and handles, in document coordinates. */
  draw() {
    document.body.dataset.svgxSelected = this.selected.join(' ');
    this.layer.replaceChildren();
    const unit = 1 / this.canvas.view.scale;
    for (const address of this.selected) {
      const node = this.canvas.elementFor(address);
      if (!node) continue;
      let b;
      try { b = node.getBBox(); } catch { continue; }
      const m = this.canvas.matrixOf(node);
      const at = (fx, fy) => new DOMPoint(b.x + fx * b.width, b.y + fy * b.height).matrixTransform(m);
      const corners = [at(0, 0), at(1, 0), at(1, 1), at(0, 1)];
      const outline = document.createElementNS(SVG_NS, 'polygon');
      outline.setAttribute('points', corners.map((p) => `${p.x},${p.y}`).join(' '));
      outline.setAttribute('class', 'svgx-outline');
      outline.setAttribute('data-svgx-outline', address);
      this.layer.append(outline);
      if (this.selected.length !== 1 || this.readOnly) continue;
      const model = this.canvas.current(address);
      if (!model) continue;
      for (const name of handlesFor(model.tag)) {
        let p;
        if (name === 'p1' || name === 'p2') {
          const attrs = this.canvas.predicted(model).attrs;
          const k = name === 'p1' ? '1' : '2';
          p = new DOMPoint(parseFloat(attrs[`x${k}`]) || 0, parseFloat(attrs[`y${k}`]) || 0).matrixTransform(m);
        } else {
          p = at(...BOX_HANDLES[name]);
        }
        const h = document.createElementNS(SVG_NS, 'rect');
        h.setAttribute('x', String(p.x - (HANDLE_PX / 2) * unit));
        h.setAttribute('y', String(p.y - (HANDLE_PX / 2) * unit));
        h.setAttribute('width', String(HANDLE_PX * unit));
        h.setAttribute('height', String(HANDLE_PX * unit));
        h.setAttribute('class', `svgx-handle svgx-handle-${name}`);
        h.setAttribute('data-svgx-handle', name);
        this.layer.append(h);
      }
    }
  }
}
