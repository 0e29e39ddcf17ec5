// What the Node tests share: the daemon's address, its control socket, and deadlines.
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

export const URL = process.env.SVGX_URL;
export const HTTP = URL.replace(/^ws/, 'http');

/** Send one line to the test's control socket (drop USER, stop, start); its answer. */
export function control(line) {
  return new Promise((resolve, reject) => {
    const socket = createConnection(Number(process.env.SVGX_CONTROL), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      answer += chunk;
      if (answer.endsWith('\n')) { socket.end(); resolve(answer.trim()); }
    });
    socket.on('error', reject);
    socket.write(`${line}\n`);
  });
}

/** Poll `test()` until it holds, at most `timeoutMs`. */
export async function until(test, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) {
      throw new Error(`not within ${timeoutMs} ms: ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Leave the model where pytest compares it with the daemon's file. */
export function writeModel(document, model) {
  writeFileSync(join(process.env.SVGX_OUT, `${document}.json`), JSON.stringify(model.snapshot()));
}
