// What the editor's side panels (presence.js, versions.js, conflicts.js) share: building
// elements without markup strings (nothing from the daemon is ever parsed as HTML), the
// panel sections of `#svgx-panels`, a stable colour per user, and a throttle.

/** An element `tag` with `attrs` (`class`, `data-*`, `text`, properties) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name in node && !name.includes('-') && name !== 'list') node[name] = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/**
 * The panel `section#<id>` of `#svgx-panels` (made when the page has none), emptied and
 * given a heading; returns the section.
 */
export function panelSection(id, title) {
  let aside = document.getElementById('svgx-panels');
  if (!aside) {
    aside = el('aside', { id: 'svgx-panels' });
    document.body.append(aside);
  }
  let section = document.getElementById(id);
  if (!section) {
    section = el('section', { id });
    aside.append(section);
  }
  section.classList.add('svgx-panel');
  section.replaceChildren(el('h2', { class: 'svgx-panel-title', text: title }));
  return section;
}

/**
 * A one-line form: a text field `name` and a submit button (`data-panel-action` =
 * `action`); `submit(text, clear)` gets the trimmed text when there is some.
 */
export function textForm({ name, placeholder, label, action, button, maxLength = 500 }, submit) {
  const field = el('input', { name, type: 'text', placeholder, maxLength, 'aria-label': label, required: true });
  const form = el('form', { class: `svgx-form svgx-form-${action}` }, field,
    el('button', { type: 'submit', 'data-panel-action': action, text: button }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = field.value.trim();
    if (text) submit(text, () => { field.value = ''; });
  });
  return form;
}

/**
 * The page's role when it is known: the welcome's `role`, or the `role` claim of the
 * page's token when it is a JWT (an opaque token does not say; the daemon knows).
 */
export function pageRole(client) {
  if (typeof client.welcome?.role === 'string') return client.welcome.role;
  const payload = typeof client.token === 'string' ? client.token.split('.')[1] : undefined;
  if (!payload) return undefined;
  try {
    const role = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))?.role;
    return typeof role === 'string' ? role : undefined;
  } catch {
    return undefined; // not a JWT
  }
}

/**
 * Call `fn(readOnly)` now and again whenever the page turns read-only (or back): a
 * viewer's page, by its token's role, or once the editor finds out (`ctx.readOnly`,
 * marked on `body[data-read-only]`), which may be after the panels are mounted.
 */
export function onReadOnly(ctx, fn) {
  const readOnly = () => Boolean(ctx.readOnly) || pageRole(ctx.client) === 'viewer';
  let last = readOnly();
  const check = () => {
    if (readOnly() === last) return;
    last = readOnly();
    fn(last);
  };
  new MutationObserver(check).observe(document.body, { attributes: true, attributeFilter: ['data-read-only'] });
  ctx.client.on('error', check);
  ctx.client.on('welcome', check);
  fn(last);
}

/** A line that tells what the daemon refused (or that a request failed), or nothing. */
export function problemLine() {
  const line = el('p', { class: 'svgx-panel-problem', role: 'status', hidden: true });
  line.show = (message) => {
    line.textContent = message ?? '';
    line.hidden = !message;
  };
  return line;
}

/** A colour for `userId`, the same on every page and every visit (a hash of the id). */
export function colourFor(userId) {
  let hash = 2166136261;
  for (const ch of String(userId)) hash = Math.imul(hash ^ ch.codePointAt(0), 16777619) >>> 0;
  return `hsl(${hash % 360}, 70%, 42%)`;
}

/**
 * `fn` called at most once every `intervalMs`: a call inside the interval is put off to
 * its end (a trailing call), so the last one always happens.
 */
export function throttle(fn, intervalMs) {
  let last = -Infinity;
  let timer = null;
  const run = () => {
    timer = null;
    last = performance.now();
    fn();
  };
  return () => {
    if (timer) return;
    const wait = last + intervalMs - performance.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
}

/** A time (Unix seconds) as the reader's local date and time, to the minute. */
export function when(seconds) {
  const date = new Date(seconds * 1000);
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}
