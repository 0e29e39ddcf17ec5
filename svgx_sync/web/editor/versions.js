// Versions and branches: section#svgx-history (the branch's versions, newest first, each
// with its author, time and message, links to the diff page, and a revert) with a form
// that makes a version, and section#svgx-branches (the document's branches, one to make,
// and switching). Everything goes through the protocol's `version` actions
// (docs/protocol.md); the history is asked again whenever the branch moved.
//
// Switching a branch loads the page of that session, `/d/<document>@<branch>`, so the
// address always says which branch is shown (and a reload stays on it). A viewer sees the
// history and the branches and may switch; making versions, reverting and making branches
// are not offered to them.
import { el, onReadOnly, panelSection, problemLine, textForm, when } from './panel-kit.js';

/** How many versions the history panel shows. */
export const HISTORY_LIMIT = 100;

// what moves the branch's history: asking again shows it
const HISTORY_CHANGES = ['version_created', 'version_reverted', 'branch_merged', 'head_moved', 'branch_switched'];

/** The editor's address for `branch` of `document`, keeping the page's query (user, token). */
export function branchAddress(document, branch, search = location.search) {
  return `/d/${encodeURIComponent(document)}@${encodeURIComponent(branch)}${search}`;
}

/** The diff page between two revisions (version ids, branches or `live`). */
export function diffAddress(document, from, to) {
  const query = new URLSearchParams({ from, to });
  return `/d/${encodeURIComponent(document)}/diff?${query}`;
}

/** The history and branches panels. */
export function mount(ctx) {
  const { client } = ctx;
  const doc = ctx.documentName;
  let branch = ctx.branch;

  // history

  const history = panelSection('svgx-history', 'History');
  const historyProblem = problemLine();
  const list = el('ol', { class: 'svgx-history-list', 'aria-live': 'polite' });
  const versionForm = textForm({
    name: 'version-message', placeholder: 'What changed', label: 'Version message',
    action: 'create-version', button: 'Create version',
  }, (description, clear) => run(historyProblem, client.createVersion(description), clear));
  history.append(historyProblem, list);
  let shownVersions = [];

  function run(problem, promise, done) {
    problem.show('');
    promise.then((reply) => done?.(reply), (err) => problem.show(err.message || String(err)));
  }

  function entry(version, newest) {
    const parent = version.parents?.[0];
    const links = el('span', { class: 'svgx-version-links' },
      parent ? el('a', { href: diffAddress(doc, parent, version.version_id), 'data-link': 'diff', text: 'Changes' }) : null,
      el('a', { href: diffAddress(doc, version.version_id, 'live'), 'data-link': 'live', text: 'Compare with live' }));
    if (!readOnly) {
      const revert = el('button', {
        type: 'button', 'data-panel-action': 'revert', text: 'Revert to this',
        title: 'Make a new version whose drawing is this one',
      });
      revert.addEventListener('click', () => run(historyProblem, client.revert(version.version_id)));
      links.append(revert);
    }
    return el('li', { class: 'svgx-version', 'data-version-id': version.version_id, 'data-newest': newest },
      el('div', { class: 'svgx-version-message', text: version.description || '(no message)' }),
      el('div', { class: 'svgx-version-meta' },
        el('span', { class: 'svgx-version-author', text: version.author_name }),
        ' · ',
        el('time', { datetime: new Date(version.timestamp * 1000).toISOString(), text: when(version.timestamp) }),
        ' · ',
        el('code', { class: 'svgx-version-id', text: version.version_id.slice(0, 10) })),
      links);
  }

  let asked = 0;
  function refreshHistory() {
    const mine = ++asked;
    client.history(HISTORY_LIMIT).then((reply) => {
      if (mine !== asked) return; // a later answer is on its way
      shownVersions = reply.versions ?? [];
      historyProblem.show('');
      renderHistory();
    }, (err) => historyProblem.show(`history: ${err.message || err}`));
  }

  function renderHistory() {
    list.replaceChildren(...shownVersions.map((v, i) => entry(v, i === 0)));
    if (!shownVersions.length) list.append(el('li', { class: 'svgx-empty', text: 'No versions yet' }));
    history.dataset.versions = String(shownVersions.length);
  }

  // branches

  const branches = panelSection('svgx-branches', 'Branches');
  const branchProblem = problemLine();
  const branchList = el('ul', { class: 'svgx-branch-list' });
  branches.append(branchList);
  const branchForm = textForm({
    name: 'branch-name', placeholder: 'new-branch', label: 'Branch name',
    action: 'create-branch', button: 'Create branch', maxLength: 200,
  }, (wanted, clear) => run(branchProblem, client.createBranch(wanted), () => { clear(); refreshBranches(); }));
  branches.append(branchProblem);

  function branchRow(b) {
    const current = b.name === branch;
    const row = el('li', { class: 'svgx-branch', 'data-branch': b.name, 'aria-current': current ? 'true' : null },
      el('span', { class: 'svgx-branch-name', text: b.name }));
    if (current) row.append(el('span', { class: 'svgx-branch-here', text: 'shown' }));
    else {
      const open = el('button', { type: 'button', 'data-panel-action': 'switch-branch', text: 'Switch' });
      open.addEventListener('click', () => location.assign(branchAddress(doc, b.name)));
      row.append(open);
    }
    return row;
  }

  function refreshBranches() {
    client.listBranches().then((reply) => {
      branchProblem.show('');
      branchList.replaceChildren(...(reply.branches ?? []).map(branchRow));
    }, (err) => branchProblem.show(`branches: ${err.message || err}`));
  }

  // a viewer's page gets no controls that change the document or its branches
  let readOnly = false;
  onReadOnly(ctx, (on) => {
    readOnly = on;
    if (on) {
      versionForm.remove();
      branchForm.remove();
    } else {
      historyProblem.before(versionForm);
      branchProblem.before(branchForm);
    }
    renderHistory();
  });

  for (const type of HISTORY_CHANGES) client.on(type, refreshHistory);
  client.on('branch_created', refreshBranches);
  client.on('welcome', (msg) => {
    branch = msg.branch;
    refreshHistory();
    refreshBranches();
  });
  refreshHistory();
  refreshBranches();
  return { refreshHistory, refreshBranches };
}
