// Connect, edit with every operation type, and see it all in a second and third client.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { connect } from '../../svgx_sync/web/svgx-client.js';
import { HTTP, URL, until, writeModel } from './helpers.mjs';

const MODULE = new globalThis.URL('../../svgx_sync/web/svgx-client.js', import.meta.url);
const clients = [];
const join = (userId) => {
  const client = connect(URL, { userId, username: `User ${userId}`, session: 'plan' });
  clients.push(client);
  return client;
};

test('connect: a welcome, and the status goes from connecting to live', async () => {
  const a = join('alice');
  const states = [];
  a.on('status', (s) => states.push(s));
  const welcome = await a.ready;
  assert.equal(welcome.session_id, 'plan');
  assert.equal(welcome.catch_up, false);
  assert.equal(a.state, 'live');
  assert.deepEqual(states, ['live']); // 'connecting' was before the listener
  assert.ok(a.model.root().tag.endsWith('svg'));
});

test('every operation type is acked and reaches a second client in seq order', async () => {
  const [a] = clients;
  const b = join('bob');
  await b.ready;
  const seenByB = [];
  b.on('operations', (m) => seenByB.push(...m.operations.map((op) => op.seq)));
  const steps = [
    ['create', 'r1', { type: 'rectangle', position: { x: 10, y: 20 }, size: { width: 30, height: 40 } }],
    ['create', 'c1', { type: 'circle', position: { x: 5, y: 5 }, style: { fill: 'red' } }],
    ['create', 'g1', { type: 'group' }],
    ['create', 'l1', { type: 'line', attributes: { x1: 0, y1: 0, x2: 10, y2: 10 } }],
    ['create', 'p1', { type: 'polyline', attributes: { points: '0,0 10,0 10,10' } }],
    ['create', 't1', { type: 'text', position: { x: 1, y: 2 }, text: 'Hello' }],
    ['create', 'm1', { markup: '<path d="M0 0 L5 5" stroke="blue"/>' }],
    ['update', 'r1', { attributes: { fill: '#00f', opacity: 0.5 }, style: { stroke: 'black' } }],
    ['update', 'c1', { style: { fill: null, stroke: 'green' } }],
    ['move', 'r1', { dx: 2.5, dy: -3 }],
    ['move', 'c1', { position: { x: 50, y: 60 } }],
    ['move', 'l1', { dx: 1, dy: 1 }],
    ['move', 'p1', { position: { x: 100, y: 100 } }],
    ['move', 'g1', { dx: 7, dy: 8 }],
    ['move', 'm1', { parent: 'g1', index: 0 }],
    ['resize', 'c1', { radius: 12 }],
    ['resize', 'r1', { size: { width: 300, height: 200 } }],
    ['resize', 'p1', { width: 20, height: 40 }],
    ['resize', 't1', { size: { width: 1, height: 16 } }],
    ['select', 'r1', { selected_elements: ['r1'] }],
    ['deselect', 'r1', { selected_elements: [] }],
    ['constraint_add', 'r1', { constraint_type: 'distance', value: 50, unit: 'mm', targets: ['c1'] }],
    ['constraint_add', 'r1', { constraint_type: 'distance', value: 60 }],
    ['constraint_add', 'c1', { constraint_type: 'fixed', constraint_id: 'k1' }],
    ['constraint_remove', 'r1', { constraint_id: 'r1-distance-2' }],
    ['assembly_update', 'door', { name: 'Door', members: ['r1', 'c1'] }],
    ['assembly_update', 'door', { name: 'Front door', properties: { material: 'oak' } }],
    ['assembly_update', 'tmp', { name: 'Temporary' }],
    ['assembly_update', 'tmp', { remove: true }],
    ['delete', 'l1', {}],
  ];
  for (const [type, id, data] of steps) {
    const opId = a.operation(type, id, data);
    const ack = await a.acked(opId);
    assert.equal(ack.status, 'applied', `${type} ${id}: ${JSON.stringify(ack)}`);
    if (type === 'select' || type === 'deselect') assert.equal(ack.seq, null);
  }
  assert.deepEqual(a.pending(), []);
  await until(() => b.lastSeq === a.lastSeq, 'bob has every operation');
  assert.deepEqual(seenByB, [...seenByB].sort((x, y) => x - y));
  assert.deepEqual(b.model.snapshot(), a.model.snapshot());
  const snap = a.model.snapshot();
  assert.equal(snap.r1.attributes.x, '12.5');
  assert.equal(snap.r1.attributes.style, 'stroke:black');
  assert.equal(snap.c1.attributes.r, '12');
  assert.equal(snap.p1.attributes.points, '100,100 120,100 120,140');
  assert.equal(snap.g1.attributes.transform, 'translate(7 8)');
  assert.equal(a.model.find('m1').parent, a.model.find('g1'));
  assert.equal(snap.door.attributes.name, 'Front door');
  assert.equal(snap.l1, undefined);
  assert.equal(snap['r1-distance-2'], undefined);
  assert.equal(snap.tmp, undefined);
});

test('a client joining now gets the same document as the model', async () => {
  const [a] = clients;
  const c = join('carol');
  const welcome = await c.ready;
  assert.equal(welcome.seq, a.lastSeq);
  assert.deepEqual(c.model.snapshot(), a.model.snapshot());
  writeModel('plan', a.model);
});

test('presence, versions and configure come back as events and replies', async () => {
  const [a, b] = clients;
  const presence = b.next('presence', (m) => m.users.some((u) => u.user_id === 'alice' && u.cursor_position?.x === 3));
  a.activity({ status: 'editing', current_element: 'r1', cursor_position: { x: 3, y: 4 } });
  await presence;
  const seenByB = b.next('versions', (m) => m.type === 'version_created');
  const created = await a.createVersion('First plan');
  assert.equal(created.description, 'First plan');
  assert.equal((await seenByB).version_id, created.version_id);
  const history = await a.history(10);
  assert.equal(history.versions[0].version_id, created.version_id);
  const branch = await a.createBranch('idea');
  assert.equal(branch.branch, 'idea');
  const branches = await a.listBranches();
  assert.ok(branches.branches.some((x) => x.name === 'idea'));
  await assert.rejects(a.createBranch('idea'), (err) => err.code === 'bad_request');
  const configured = b.next('session_configured');
  a.configure('last_write_wins');
  assert.equal((await configured).strategy, 'last_write_wins');
  const health = a.next('health');
  const status = await a.requestStatus();
  assert.equal(status, await health);
  assert.ok(status.sessions.some((x) => x.session_id.startsWith('plan')));
});

test('switchBranch moves the client to the branch with its own seq and outbox', async () => {
  const b = join('dora');
  await b.ready;
  const welcome = await b.switchBranch('idea');
  assert.equal(welcome.session_id, 'plan@idea');
  assert.equal(b.session, 'plan@idea');
  assert.ok(b.model.find('r1'));
  const ack = await b.acked(b.update('r1', { attributes: { fill: 'yellow' } }));
  assert.equal(ack.status, 'applied');
  assert.equal(b.model.snapshot().r1.attributes.fill, 'yellow');
  assert.deepEqual(b.pending(), []);
  assert.notEqual(clients[0].model.snapshot().r1.attributes.fill, 'yellow');
});

test('an operation the daemon refuses is an error event and leaves the outbox', async () => {
  const [a] = clients;
  const error = a.next('error');
  const opId = a.update('no-such-element', { attributes: { x: 1 } });
  const got = await error;
  assert.equal(got.code, 'unknown_element');
  assert.equal(got.op_id, opId);
  assert.deepEqual(a.pending(), []);
});

test('GET /svgx-client.js serves this module, with an ETag', async () => {
  const response = await fetch(`${HTTP}/svgx-client.js`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(await response.text(), readFileSync(MODULE, 'utf8'));
  const etag = response.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${HTTP}/svgx-client.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
});

test('close: no reconnect', async () => {
  for (const client of clients) {
    const closed = client.next('status', (s) => s === 'closed');
    client.close();
    await closed;
  }
});
