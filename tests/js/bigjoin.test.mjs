// A welcome that names its files instead of carrying them (the daemon here runs with
// inline_files_bytes = 0): the client fetches them, and what happened meanwhile is
// applied exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { connect } from '../../svgx_sync/web/svgx-client.js';
import { URL, until, writeModel } from './helpers.mjs';

test('a late joiner fetches the named file while edits go on, and ends equal', async () => {
  const alice = connect(URL, { userId: 'alice', session: 'plan' });
  const first = await alice.ready;
  // the welcome named the file; the client fetched it before telling of the welcome
  assert.equal(first.file_urls['document.svg'], '/d/plan/raw/document.svg');
  assert.match(first.files['document.svg'], /<svg/);
  assert.equal(first.svg, first.files['document.svg']);
  for (let i = 0; i < 40; i++) {
    alice.create(`r${i}`, { type: 'rectangle', position: { x: i * 5, y: 0 }, size: { width: 4, height: 4 } });
  }
  await alice.acked(alice.create('last', { type: 'rectangle', position: { x: 0, y: 50 } }));
  // Moves made after bob's welcome and before his fetch: the file he fetches holds
  // them, and their frames wait in his queue; applied again, relative moves would put
  // him elsewhere.
  const moves = [];
  const slowFetch = async (url) => {
    for (let i = 0; i < 40; i++) moves.push(alice.move(`r${i}`, { dx: 1, dy: 1 }));
    for (let i = 0; i < 40; i++) moves.push(alice.move(`r${i}`, { dx: 1, dy: 1 }));
    await Promise.all(moves.map((id) => alice.acked(id)));
    return fetch(url);
  };
  const bob = connect(URL, { userId: 'bob', session: 'plan', fetch: slowFetch });
  const welcome = await bob.ready;
  assert.ok(welcome.file_urls['document.svg']);
  await Promise.all(moves.map((id) => alice.acked(id)));
  await until(() => bob.model.seq >= alice.model.seq, () => `bob at ${bob.model.seq}, alice at ${alice.model.seq}`);
  assert.deepEqual(bob.model.snapshot(), alice.model.snapshot());
  assert.equal(bob.model.snapshot().r3.attributes.x, '17');
  writeModel('plan', bob.model);
  alice.close();
  bob.close();
});
