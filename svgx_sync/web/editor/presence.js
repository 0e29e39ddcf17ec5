// Presence: who is here (section#svgx-people, with the status the daemon reports), the
// others' cursors and selections drawn over the canvas in document coordinates, and one's
// own pointer and selection sent as `activity` messages (docs/protocol.md, "Presence").
//
// Cursors and selection outlines live in `ctx.canvas.overlay` (an <svg> in document
// coordinates); a cursor is scaled by the inverse of the view's zoom so it keeps its size
// on screen. Activity is sent at most every ACTIVITY_INTERVAL_MS, the last one always.
import { colourFor, el, panelSection, throttle } from './panel-kit.js';

const SVG = 'http://www.w3.org/2000/svg';

/** The least time between two `activity` messages (about 30 a second). */
export const ACTIVITY_INTERVAL_MS = 33;

const STATUS_LABELS = { online: 'active', editing: 'editing', away: 'away', offline: 'offline' };
// an arrow pointing up-left, its tip at (0, 0), in screen pixels
const ARROW = 'M0 0 L0 17 L4.6 12.6 L7.6 19.4 L10.4 18.2 L7.4 11.6 L13.4 11.6 Z';

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

/** Show the people of the session and their cursors; send one's own activity. */
export function mount(ctx) {
  const people = new Map(); // user_id -> the daemon's presence record
  const me = ctx.user.user_id;
  const section = panelSection('svgx-people', 'People');
  const list = el('ul', { class: 'svgx-people-list' });
  section.append(list);
  const layer = svgEl('g', { class: 'svgx-presence-layer', 'data-svgx-presence': '' });
  ctx.canvas.overlay.append(layer);

  function take(users, replace) {
    if (replace) people.clear();
    for (const user of users ?? []) {
      if (user.status === 'offline') people.delete(user.user_id);
      else people.set(user.user_id, user);
    }
    if (!people.has(me)) people.set(me, { user_id: me, username: ctx.user.username, status: 'online' });
    renderList();
    drawAll();
  }

  function renderList() {
    const rows = [...people.values()].sort((a, b) => (a.user_id === me ? -1 : b.user_id === me ? 1
      : String(a.username ?? a.user_id).localeCompare(String(b.username ?? b.user_id))));
    list.replaceChildren(...rows.map((user) => {
      const swatch = el('span', { class: 'svgx-swatch', 'aria-hidden': 'true' });
      swatch.style.background = colourFor(user.user_id);
      return el('li', { 'data-svgx-user': user.user_id, 'data-status': user.status, class: 'svgx-person' },
        swatch,
        el('span', { class: 'svgx-person-name', text: user.username || user.user_id }),
        user.user_id === me ? el('span', { class: 'svgx-person-you', text: '(you)' }) : null,
        el('span', { class: 'svgx-person-status', text: STATUS_LABELS[user.status] ?? user.status }));
    }));
  }

  // the others' cursors and selections

  function zoom() {
    const m = ctx.canvas.overlay.getScreenCTM?.();
    return m && m.a > 0 ? m.a : 1;
  }

  function drawAll() {
    // the editor may redraw its overlay: keep the layer in it, on top
    if (layer.parentNode !== ctx.canvas.overlay || layer.nextSibling) ctx.canvas.overlay.append(layer);
    layer.replaceChildren();
    const scale = 1 / zoom();
    for (const user of people.values()) {
      if (user.user_id === me) continue;
      drawSelection(user, scale);
      drawCursor(user, scale);
    }
  }

  function drawCursor(user, scale) {
    const at = user.cursor_position;
    if (!at || !Number.isFinite(at.x) || !Number.isFinite(at.y)) return;
    const colour = colourFor(user.user_id);
    const name = user.username || user.user_id;
    const cursor = svgEl('g', {
      'data-svgx-cursor': user.user_id, class: 'svgx-cursor', 'data-x': at.x, 'data-y': at.y,
      transform: `translate(${at.x} ${at.y}) scale(${scale})`,
    });
    cursor.append(svgEl('path', { d: ARROW, fill: colour, class: 'svgx-cursor-arrow' }));
    const tag = svgEl('rect', { x: 8, y: 17, width: 12 + 7 * [...name].length, height: 18, rx: 4, fill: colour, class: 'svgx-cursor-tag' });
    const label = svgEl('text', { x: 14, y: 30, class: 'svgx-cursor-name' });
    label.textContent = name;
    cursor.append(tag, label);
    layer.append(cursor);
    const measured = label.getComputedTextLength?.();
    if (measured > 0) tag.setAttribute('width', String(measured + 12));
  }

  function drawSelection(user, scale) {
    const colour = colourFor(user.user_id);
    for (const id of user.selected_elements ?? []) {
      const target = ctx.canvas.elementFor(id);
      if (!target) continue;
      const box = target.getBoundingClientRect();
      const a = ctx.canvas.toDocument(box.left, box.top);
      const b = ctx.canvas.toDocument(box.right, box.bottom);
      const pad = 3 * scale;
      layer.append(svgEl('rect', {
        'data-svgx-remote-selection': user.user_id, 'data-element-id': id, class: 'svgx-remote-selection',
        x: Math.min(a.x, b.x) - pad, y: Math.min(a.y, b.y) - pad,
        width: Math.abs(b.x - a.x) + 2 * pad, height: Math.abs(b.y - a.y) + 2 * pad,
        stroke: colour, fill: 'none', 'vector-effect': 'non-scaling-stroke',
      }));
    }
  }

  // one's own activity

  let pending = {};
  const flush = throttle(() => {
    const fields = pending;
    pending = {};
    if (Object.keys(fields).length) ctx.client.activity(fields);
  }, ACTIVITY_INTERVAL_MS);

  const surface = ctx.canvas.svg.closest('[data-svgx-canvas]') ?? ctx.canvas.svg;
  surface.addEventListener('pointermove', (event) => {
    const at = ctx.canvas.toDocument(event.clientX, event.clientY);
    if (!Number.isFinite(at?.x) || !Number.isFinite(at?.y)) return;
    pending.cursor_position = { x: Math.round(at.x * 100) / 100, y: Math.round(at.y * 100) / 100 };
    flush();
  }, { passive: true });

  function sendSelection() {
    const ids = ctx.selection.ids();
    pending.selected_elements = ids;
    if (ids.length) pending.current_element = ids[0];
    flush();
  }
  ctx.selection.onChange(sendSelection);

  // a page in a hidden tab is away; back in view, it is here again
  document.addEventListener('visibilitychange', () => {
    pending.status = document.hidden ? 'away' : 'online';
    flush();
  });

  ctx.client.on('presence', (msg) => take(msg.users, false));
  ctx.client.on('welcome', (msg) => {
    take(msg.users, true);
    if (ctx.selection.ids().length) sendSelection();
  });
  ctx.canvas.onViewChange(drawAll);
  ctx.events?.addEventListener('svgx:rendered', drawAll);
  take(ctx.client.welcome?.users, true);
  return { people, redraw: drawAll };
}
