// Live conflicts: section#svgx-conflicts lists the session's open conflict records (the
// welcome's `conflicts`, then `conflict_detected`), each with its choices: keep ours (the
// live state: the earlier edit), take theirs (the later, held edit), or, for an attribute
// or text, a value of one's own. A choice is sent as `resolve_conflict`; the record leaves
// the list when `conflict_resolved` comes. The session's strategy (docs/merge.md, "Live
// conflicts and the five strategies") is shown, and an admin (anyone, without tokens) may
// change it (`configure`).
// A viewer sees the list and the strategy only.
import { el, onReadOnly, pageRole, panelSection, problemLine } from './panel-kit.js';

/** The strategies a session can have, as `configure` takes them. */
export const STRATEGIES = ['automatic', 'manual', 'last_write_wins', 'merge', 'reject'];

const VALUE_KINDS = new Set(['attribute', 'text']);
const KIND_LABELS = {
  attribute: 'Attribute set twice', text: 'Text changed twice', parent: 'Moved to two places',
  edit_delete: 'Deleted while edited', delete_edit: 'Edited while deleted', duplicate_id: 'Id taken',
  refused: 'Outside change refused', stale_save: 'Outside save of an older copy',
};

/** Whether this page may change the session's strategy: an admin's, or anyone's without tokens. */
function mayConfigure(client) {
  const role = pageRole(client);
  return role === undefined ? !client.token : role === 'admin';
}

function shown(value) {
  if (value === null || value === undefined) return '(none)';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

/** The conflicts panel. */
export function mount(ctx) {
  const { client } = ctx;
  const open = new Map(); // conflict_id -> record
  const section = panelSection('svgx-conflicts', 'Conflicts');
  const problem = problemLine();
  const strategyLine = el('p', { class: 'svgx-strategy' }, 'Strategy: ');
  const strategyName = el('strong', { class: 'svgx-strategy-name' });
  strategyLine.append(strategyName);
  const picker = el('select', { name: 'strategy', 'aria-label': 'Conflict strategy' },
    ...STRATEGIES.map((s) => el('option', { value: s, text: s.replaceAll('_', ' ') })));
  picker.addEventListener('change', () => client.configure(picker.value));
  const list = el('ul', { class: 'svgx-conflict-list' });
  const empty = el('p', { class: 'svgx-empty', text: 'No open conflicts' });
  section.append(strategyLine, problem, list, empty);

  const names = new Map(); // user_id -> username, from presence
  const nameOf = (userId) => (userId ? names.get(userId) ?? userId : userId);
  const learn = (users) => { for (const u of users ?? []) if (u.username) names.set(u.user_id, u.username); };
  learn(client.welcome?.users);
  client.on('presence', (msg) => learn(msg.users));

  function setStrategy(strategy) {
    section.dataset.strategy = strategy ?? '';
    strategyName.textContent = (strategy ?? 'unknown').replaceAll('_', ' ');
    if (strategy) picker.value = strategy;
  }

  function resolve(record, resolution) {
    problem.show('');
    if (!client.resolveConflict(record.conflict_id, resolution)) problem.show('Not connected: try again when live.');
  }

  function choice(record, resolution, label, value) {
    const button = el('button', { type: 'button', 'data-resolution': resolution, class: 'svgx-choice' },
      el('span', { class: 'svgx-choice-label', text: label }),
      value === undefined ? null : el('code', { class: 'svgx-choice-value', text: shown(value) }));
    button.addEventListener('click', () => resolve(record, resolution));
    return button;
  }

  function row(record) {
    const earlier = nameOf(record.earlier?.user_id);
    const later = nameOf(record.later?.user_id);
    const where = [record.element_id, record.attribute].filter(Boolean).join(' · ');
    const item = el('li', {
      class: 'svgx-conflict', 'data-conflict-id': record.conflict_id, 'data-kind': record.kind,
      'data-element-id': record.element_id,
    },
    el('div', { class: 'svgx-conflict-what' },
      el('strong', { text: KIND_LABELS[record.kind] ?? record.kind }), ' ',
      el('code', { text: where })),
    el('div', { class: 'svgx-conflict-who', text: [earlier, later].filter(Boolean).join(' then ') || (record.users ?? []).map(nameOf).join(', ') }));
    if (record.reason) item.append(el('div', { class: 'svgx-conflict-reason', text: record.reason }));
    if (readOnly) return item;
    const choices = el('div', { class: 'svgx-conflict-choices' },
      choice(record, 'ours', `Keep ours${earlier ? ` (${earlier})` : ''}`, VALUE_KINDS.has(record.kind) ? record.ours : undefined),
      choice(record, 'theirs', `Take theirs${later ? ` (${later})` : ''}`, VALUE_KINDS.has(record.kind) ? record.theirs : undefined));
    item.append(choices);
    if (VALUE_KINDS.has(record.kind)) {
      const value = el('input', {
        name: 'conflict-value', type: 'text', 'aria-label': 'A value of your own',
        value: typeof record.theirs === 'string' ? record.theirs : '',
      });
      const form = el('form', { class: 'svgx-conflict-value' }, value,
        el('button', { type: 'submit', 'data-resolution': 'value', text: 'Use this value' }));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        resolve(record, { value: value.value });
      });
      item.append(form);
    }
    return item;
  }

  // rows are kept while their conflict is open, so a value being typed survives updates
  const rows = new Map();
  function render() {
    for (const id of rows.keys()) if (!open.has(id)) rows.delete(id);
    for (const [id, record] of open) if (!rows.has(id)) rows.set(id, row(record));
    list.replaceChildren(...rows.values());
    empty.hidden = open.size > 0;
    section.dataset.open = String(open.size);
  }

  function take(records, replace) {
    if (replace) open.clear();
    for (const record of records ?? []) {
      if (record.status === 'open') open.set(record.conflict_id, record);
      else open.delete(record.conflict_id);
    }
    render();
  }

  // a viewer sees the strategy and the conflicts, and has no choices to make
  let readOnly = false;
  onReadOnly(ctx, (on) => {
    readOnly = on;
    const picking = !on && mayConfigure(client);
    strategyName.hidden = picking; // the picker shows it
    if (picking) strategyLine.append(picker);
    else picker.remove();
    rows.clear();
    render();
  });

  client.on('conflicts', (msg) => take(msg.conflicts, false));
  client.on('merge_in_progress', (msg) => take(msg.conflicts, false));
  client.on('conflict_resolved', (msg) => {
    open.delete(msg.conflict_id);
    render();
  });
  client.on('session_configured', (msg) => setStrategy(msg.strategy));
  client.on('error', (msg) => {
    if (msg.op_id === undefined && /conflict/i.test(msg.message ?? '')) problem.show(msg.message);
  });
  client.on('welcome', (msg) => {
    learn(msg.users);
    setStrategy(msg.strategy);
    take(msg.conflicts, true);
  });
  setStrategy(client.welcome?.strategy);
  take(client.welcome?.conflicts, true);
  return { open };
}
