import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';
import { invariantViolations } from '../world/invariants.js';

/**
 * The API's limits (part 9), against the real daemon: slow clients are cut off, oversize
 * headers refused, a thousand clients at once all served, connections beyond the cap told
 * so; and a hundred parallel `run`s and `network connect`s to one network all succeed with
 * unique addresses and MACs and the kernel consistent with the records.
 */

/** A raw connection to the daemon's socket, with what it received and whether it was closed. */
async function rawClient(w: World): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const socket = connect(w.socket);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed };
}

describe('API limits', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => checkLeaksThenDispose(w));

  test('a client sending its headers a byte at a time (slowloris) is cut off with 408 after 10 s; others are served meanwhile', { timeout: 30_000 }, async () => {
    const slow = await rawClient(w);
    slow.socket.write('GET /_ping HTTP/1.1\r\nHost: berth\r\n');
    const drip = setInterval(() => slow.socket.write('X'), 500);
    try {
      assert.equal((await w.api('GET', '/_ping')).status, 200);
      await Promise.race([slow.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the slow client was not cut off within 20 s')), 20_000))]);
    } finally {
      clearInterval(drip);
    }
    assert.match(slow.received(), /^HTTP\/1\.1 408/);
  });

  test('headers over 16 KiB get 431 and change nothing', async () => {
    const client = await rawClient(w);
    client.socket.write(`GET /_ping HTTP/1.1\r\nHost: berth\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await client.closed;
    assert.match(client.received(), /^HTTP\/1\.1 431/);
  });

  // Fails with a backlog of 8; here it passes with Node's default (511) too: one client
  // process does not connect faster than the daemon accepts.
  test('1,000 clients at once are all answered, none refused with EAGAIN', async () => {
    const replies = await Promise.all(Array.from({ length: 1000 }, () => w.api('GET', '/_ping').then((r) => r.status, (err: NodeJS.ErrnoException) => err.code ?? err.message)));
    const failed = replies.filter((s) => s !== 200);
    assert.deepEqual(failed, [], `${failed.length} of 1000 failed: ${[...new Set(failed)].join(', ')}`);
  });

  test('the connection beyond 4096 open ones is answered 503 naming the cap, and closed', { timeout: 60_000 }, async () => {
    const open: Awaited<ReturnType<typeof rawClient>>[] = [];
    try {
      for (let i = 0; i < 4096; i += 256) open.push(...(await Promise.all(Array.from({ length: 256 }, () => rawClient(w)))));
      const extra = await rawClient(w);
      await extra.closed;
      assert.match(extra.received(), /^HTTP\/1\.1 503/);
      assert.match(extra.received(), /too many connections to the daemon: the cap is 4096 at once/);
    } finally {
      for (const c of open) c.socket.destroy();
    }
    assert.equal((await w.api('GET', '/_ping')).status, 200, 'served again once they closed');
  });
});

describe('100 parallel runs and 100 parallel connects to one network', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('network', 'create', 'par');
    await w.berthOk('network', 'create', 'par2');
  });
  after(() => checkLeaksThenDispose(w));

  test('all succeed, addresses and MACs are unique, and the kernel matches the records', { timeout: 300_000 }, async (t) => {
    const names = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const runStart = performance.now();
    const runs = await Promise.all(
      names.map(async (name) => {
        const created = await w.api('POST', `/containers/create?name=${name}`, { Image: 'host', Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'par' } });
        if (created.status !== 201) return `${name}: create ${created.status} ${created.body}`;
        const started = await w.api('POST', `/containers/${name}/start`);
        return started.status === 204 ? '' : `${name}: start ${started.status} ${started.body}`;
      }),
    );
    const runMs = performance.now() - runStart;
    assert.deepEqual(runs.filter(Boolean), []);
    const connectStart = performance.now();
    const connects = await Promise.all(names.map((name) => w.api('POST', '/networks/par2/connect', { Container: name }).then((r) => (r.status === 200 ? '' : `${name}: ${r.status} ${r.body}`))));
    const connectMs = performance.now() - connectStart;
    assert.deepEqual(connects.filter(Boolean), []);
    // Unique addresses per network and MACs overall, and everything else, from the kernel's side.
    assert.deepEqual(await invariantViolations(w, new Set(names.slice(0, 3))), []);
    t.diagnostic(`100 parallel create+start: ${(runMs / 1000).toFixed(2)} s in all; 100 parallel connects: ${(connectMs / 1000).toFixed(2)} s in all`);
  });
});
