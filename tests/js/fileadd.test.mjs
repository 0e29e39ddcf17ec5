// A file added whole by another program, too large to come inline (the daemon here runs
// with inline_files_bytes = 1024): the operations name it, the client fetches it, and
// what happened to it meanwhile is applied exactly once.
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import { test } from 'node:test';

import { connect } from '../../svgx_sync/web/svgx-client.js';
import { until, URL, writeModel } from './helpers.mjs';

const ANNEX = 'docs/plan/annex.svg';
const rects = Array.from({ length: 60 }, (_, i) => `  <rect id="a${i}" x="${i * 10}" y="0" width="8" height="8"/>\n`);
const annex = `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg">\n${rects.join('')}</svg>\n`;

test('a named file_add is fetched, and the moves made before the fetch are not applied twice', async () => {
  const alice = connect(URL, { userId: 'alice', session: 'plan' });
  await alice.ready;
  const seen = [];
  const moves = [];
  let slowed = false;
  // Bob's fetch of the annex waits until alice has moved its rects twice: the file he
  // fetches holds the moves, and their frames wait in his queue.
  const slowFetch = async (url) => {
    if (!slowed && url.pathname.endsWith('/raw/annex.svg')) {
      slowed = true;
      await until(() => alice.model.files.has('annex.svg'), 'alice has the annex');
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 20; i++) moves.push(alice.move(`a${i}`, { dx: 1, dy: 1 }, { file: 'annex.svg' }));
      }
      await Promise.all(moves.map((id) => alice.acked(id)));
    }
    return fetch(url);
  };
  const bob = connect(URL, { userId: 'bob', session: 'plan', fetch: slowFetch });
  await bob.ready;
  bob.on('operations', (msg) => seen.push(...msg.operations));

  writeFileSync(`${ANNEX}.tmp`, annex); // as editors save: a new file renamed in place
  renameSync(`${ANNEX}.tmp`, ANNEX);
  await until(() => slowed && moves.length === 40, 'bob fetched the annex');
  await until(() => bob.model.seq >= alice.model.seq, () => `bob at ${bob.model.seq}, alice at ${alice.model.seq}`);

  const added = seen.find((op) => op.operation_type === 'file_add');
  assert.equal(added.file, 'annex.svg');
  assert.match(added.data.markup, /<rect id="a59"/); // told with the fetched markup
  assert.equal(added.data.markup_url, undefined);
  assert.deepEqual(bob.model.snapshot('annex.svg'), alice.model.snapshot('annex.svg'));
  assert.equal(bob.model.snapshot('annex.svg').a3.attributes.x, '32'); // moved twice, once each
  writeModel('annex', { snapshot: () => bob.model.snapshot('annex.svg') });
  alice.close();
  bob.close();
});
