import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';

/**
 * The launcher's side of its protocol (native/launcher.c) on requests no daemon sends: it
 * must answer what it cannot use, in order, and go on; and stop on what it cannot read past.
 * No request here makes a child, so no namespace is touched.
 */
function startLauncher() {
  const launcher = spawn(findLaunchTools().init, ['--launcher', ' '.repeat(64)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let answers = '';
  let stderr = '';
  launcher.stdout.setEncoding('utf8').on('data', (d: string) => (answers += d));
  launcher.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ended = once(launcher, 'close') as Promise<[number | null]>;
  return { launcher, answers: () => answers, stderr: () => stderr, ended };
}

/** A request whose payload is `strings`, each ended by NUL (launcher.c). */
function request(...strings: string[]): Buffer {
  const body = Buffer.from(strings.map((s) => `${s}\0`).join(''), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return Buffer.concat([header, body]);
}

test('the launcher answers malformed requests with "unstarted", in order, and ends with its requests', async () => {
  const { launcher, answers, ended } = startLauncher();
  // Counts that are not numbers (both; the environment's); fewer strings than counted; no arguments at all.
  launcher.stdin.write(request('x', 'y'));
  launcher.stdin.write(request('1', 'x', 'a'));
  launcher.stdin.write(request('3', '0', 'a', 'b'));
  launcher.stdin.write(request('0', '0'));
  launcher.stdin.end();
  const [code] = await ended;
  assert.equal(code, 0);
  assert.equal(answers(), 'unstarted the request is malformed\n'.repeat(4));
});

test('the launcher stops, saying why, on a request longer than it reads (16 MiB)', async () => {
  const { launcher, answers, stderr, ended } = startLauncher();
  const header = Buffer.alloc(4);
  header.writeUInt32LE(17 << 20);
  launcher.stdin.write(header);
  const [code] = await ended;
  launcher.stdin.destroy();
  assert.equal(code, 0);
  assert.equal(answers(), '');
  assert.match(stderr(), /cannot read a request \(too long\): stopping/);
});

test('the launcher refuses to start without --launcher', async () => {
  const launcher = spawn(findLaunchTools().init, ['/run/netns/x', 'host'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  launcher.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(launcher, 'close')) as [number | null];
  assert.equal(code, 2);
  assert.match(stderr, /usage: berth-init --launcher PADDING/);
});
