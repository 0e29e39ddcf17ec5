// Reconnect after the daemon drops the connection, catch up with last_seq, and resend the
// outbox with the same op_id after a restart and after a page reload: applied once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, connect, memoryStorage } from '../../svgx_sync/web/svgx-client.js';
import { URL, control, until, writeModel } from './helpers.mjs';

const open = [];
const join = (userId, session, options = {}) => {
  const client = connect(URL, { userId, session, ...options });
  open.push(client);
  return client;
};

/** A copy of a storage's items (what a page reloaded at that moment would find). */
function copyOf(storage, key) {
  const copy = memoryStorage();
  const value = storage.getItem(key);
  if (value !== null) copy.setItem(key, value);
  return copy;
}

test('backoff doubles from 500 ms to 10 s while visible, 5 min when hidden, jittered', () => {
  const top = () => 0;
  const bottom = () => 1;
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, false, top)), [500, 1000, 2000, 4000, 8000, 10000]);
  assert.equal(backoffDelay(20, false, top), 10_000);
  assert.equal(backoffDelay(20, true, top), 300_000);
  assert.equal(backoffDelay(0, false, bottom), 250);
});

test('a dropped connection comes back by itself and catches up with last_seq', async () => {
  const a = join('ann', 'drop');
  await a.ready;
  const opId = a.create('r1', { type: 'rectangle', position: { x: 0, y: 0 } });
  await a.acked(opId);
  const seqBefore = a.lastSeq;
  const offline = a.next('status', (s) => s === 'offline');
  const rejoined = a.next('welcome');
  assert.equal(await control('drop ann'), 'dropped 1');
  await offline;
  const welcome = await rejoined;
  assert.equal(welcome.catch_up, true);
  assert.equal(welcome.seq, seqBefore);
  assert.equal(a.state, 'live');
});

test('operations made while a client was away arrive in its catch-up welcome', async () => {
  const [a] = open;
  const b = join('ben', 'drop');
  await b.ready;
  // Away: the daemon drops the connection and the client waits (suspend) before retrying.
  a.on('status', (s) => { if (s === 'offline' && !a.resumed) a.suspend(); });
  const offline = a.next('status', (s) => s === 'offline');
  await control('drop ann');
  await offline;
  const ids = [b.move('r1', { dx: 3, dy: 4 }), b.update('r1', { attributes: { fill: 'red' } })];
  for (const id of ids) await b.acked(id);
  const rejoined = a.next('welcome');
  a.resumed = true;
  a.resume();
  const welcome = await rejoined;
  assert.equal(welcome.catch_up, true);
  assert.deepEqual(welcome.operations.map((op) => op.op_id), ids);
  assert.equal(a.lastSeq, b.lastSeq);
  assert.deepEqual(a.model.snapshot(), b.model.snapshot());
  assert.equal(a.model.snapshot().r1.attributes.x, '3');
  writeModel('drop', a.model);
});

test('the outbox is resent with the same op_id and applied exactly once', async () => {
  const storage = memoryStorage();
  const a = join('amy', 'resend', { storage });
  await a.ready;
  await a.acked(a.create('r1', { type: 'rectangle', position: { x: 0, y: 0 } }));

  // The ack of this move is lost to a page reloaded before it came: its outbox still has it.
  const moved = a.move('r1', { dx: 10, dy: 0 });
  const key = a.storageKey();
  const reloaded = copyOf(storage, key);
  assert.equal(JSON.parse(reloaded.getItem(key))[0].op_id, moved);
  await a.acked(moved);
  assert.equal(storage.getItem(key), null);

  // The daemon stops; an edit made now waits in the outbox and goes out once it is back.
  const offline = a.next('status', (s) => s === 'offline');
  assert.equal(await control('stop'), 'stopped');
  await offline;
  const whileDown = a.move('r1', { dx: 5, dy: 0 });
  assert.deepEqual(a.pending().map((op) => op.op_id), [whileDown]);
  const acked = a.acked(whileDown, 30_000);
  assert.equal(await control('start'), 'started');
  const ack = await acked;
  assert.equal(ack.status, 'applied');
  assert.deepEqual(a.pending(), []);

  // The reloaded page resends the move whose ack it never saw: acked again, not applied.
  const again = join('amy', 'resend', { storage: reloaded });
  const resent = again.acked(moved);
  await again.ready;
  const second = await resent;
  assert.equal(second.status, 'applied');
  assert.deepEqual(again.pending(), []);

  // An edit made offline on a page that is then reloaded is sent by the new page.
  a.suspend();
  await until(() => a.state === 'offline', 'amy offline');
  const lastEdit = a.move('r1', { dx: 1, dy: 0 });
  a.close();
  const third = join('amy', 'resend', { storage: copyOf(storage, key) });
  await third.acked(lastEdit);
  await until(() => again.lastSeq === third.lastSeq, 'both pages at the same seq');
  assert.equal(third.model.snapshot().r1.attributes.x, '16');
  assert.deepEqual(again.model.snapshot(), third.model.snapshot());
  writeModel('resend', third.model);
});

test('close every client', async () => {
  for (const client of open) client.close();
  await until(() => open.every((c) => c.state === 'closed'), () => open.map((c) => `${c.userId}:${c.state}:${c.ws?.readyState}`).join(' '));
});
