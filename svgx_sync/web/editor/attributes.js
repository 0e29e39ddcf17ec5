// The attributes panel: fill, stroke, stroke-width and opacity of the selection, every
// attribute of a single selected element, and any attribute by name. A change is one
// `update` per selected element (a property set in `style` is changed there).

import { localName } from './render.js';

const COMMON = ['fill', 'stroke', 'stroke-width', 'opacity'];
const NOT_EDITABLE = new Set(['id']);

function styleOf(attrs) {
  const props = {};
  for (const decl of (attrs.style ?? '').split(';')) {
    const at = decl.indexOf(':');
    if (at >= 0) props[decl.slice(0, at).trim()] = decl.slice(at + 1).trim();
  }
  return props;
}

/** The value of a presentation property: from `style` when set there, else the attribute. */
export function propertyOf(attrs, name) {
  const style = styleOf(attrs);
  return name in style ? style[name] : attrs[name];
}

/** The `update` data that sets `name` to `value` (null removes) where the element keeps it. */
export function updateFor(attrs, name, value) {
  if (COMMON.includes(name) && name in styleOf(attrs)) return { style: { [name]: value } };
  return { attributes: { [name]: value } };
}

function toHex(value) {
  if (!value) return '#000000';
  if (/^#[0-9a-f]{6}$/i.test(value)) return value.toLowerCase();
  if (/^#[0-9a-f]{3}$/i.test(value)) return `#${[...value.slice(1)].map((c) => c + c).join('')}`.toLowerCase();
  return null;
}

export class AttributesPanel {
  constructor(root, { canvas, selection, history }) {
    this.root = root;
    this.canvas = canvas;
    this.selection = selection;
    this.history = history;
    this.readOnly = false;
    this.form = root.querySelector('form');
    this.empty = root.querySelector('[data-svgx-empty]');
    this.list = root.querySelector('[data-svgx-attribute-list]');
    this.inputs = Object.fromEntries(COMMON.map((n) => [n, root.querySelector(`[name="${n}"]`)]));
    this.pickers = Object.fromEntries(['fill', 'stroke'].map((n) => [n, root.querySelector(`[data-svgx-picker="${n}"]`)]));
    this.form.addEventListener('submit', (e) => e.preventDefault());
    for (const name of COMMON) {
      this.inputs[name].addEventListener('change', () => this.set(name, this.inputs[name].value.trim() || null));
    }
    for (const [name, picker] of Object.entries(this.pickers)) {
      picker?.addEventListener('change', () => {
        this.inputs[name].value = picker.value;
        this.set(name, picker.value);
      });
    }
    const nameInput = root.querySelector('[name="svgx-attr-name"]');
    const valueInput = root.querySelector('[name="svgx-attr-value"]');
    root.querySelector('[data-action="set-attribute"]').addEventListener('click', () => {
      const name = nameInput.value.trim();
      if (!name) return;
      this.set(name, valueInput.value === '' ? null : valueInput.value);
      nameInput.value = '';
      valueInput.value = '';
    });
    valueInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') root.querySelector('[data-action="set-attribute"]').click();
    });
    selection.onChange(() => this.refresh());
    canvas.events.addEventListener('svgx:rendered', (e) => {
      const ids = e.detail?.ids;
      if (!ids || ids.some((id) => this.selection.has(id))) this.refresh();
    });
  }

  setReadOnly(on) {
    this.readOnly = on;
    for (const el of this.root.querySelectorAll('input, button')) el.disabled = on;
  }

  /** The selected elements as shown (model with one's own unconfirmed edits). */
  shown() {
    return this.selection.ids().map((a) => {
      const el = this.canvas.current(a);
      return el ? { address: a, el, attrs: this.canvas.predicted(el).attrs } : null;
    }).filter(Boolean);
  }

  set(name, value) {
    if (this.readOnly) return;
    const items = this.shown();
    const ops = [];
    for (const { address, attrs } of items) {
      if (NOT_EDITABLE.has(name)) continue;
      if ((propertyOf(attrs, name) ?? null) === value) continue;
      ops.push({ type: 'update', id: address, data: updateFor(attrs, name, value) });
    }
    if (ops.length) this.history.apply(ops, `set ${name}`);
    this.refresh();
  }

  refresh() {
    const items = this.shown();
    this.root.dataset.count = String(items.length);
    this.empty.hidden = items.length > 0;
    this.form.hidden = items.length === 0;
    for (const name of COMMON) {
      const values = new Set(items.map((i) => propertyOf(i.attrs, name) ?? ''));
      const value = values.size === 1 ? [...values][0] : '';
      const input = this.inputs[name];
      if (document.activeElement !== input) input.value = value;
      input.placeholder = values.size > 1 ? 'mixed' : '';
      const picker = this.pickers[name];
      if (picker) picker.value = toHex(value) ?? '#000000';
    }
    this.list.replaceChildren();
    if (items.length !== 1) return;
    const { el, attrs } = items[0];
    const title = document.createElement('div');
    title.className = 'svgx-attr-title';
    title.textContent = `<${localName(el.tag)}>${attrs.id !== undefined ? ` #${attrs.id}` : ''}`;
    this.list.append(title);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
      const row = document.createElement('label');
      row.className = 'svgx-attr-row';
      const key = document.createElement('span');
      key.textContent = name;
      const input = document.createElement('input');
      input.value = value;
      input.dataset.svgxRow = name;
      input.disabled = this.readOnly || NOT_EDITABLE.has(name);
      input.addEventListener('change', () => this.set(name, input.value === '' ? null : input.value));
      row.append(key, input);
      this.list.append(row);
    }
  }
}
