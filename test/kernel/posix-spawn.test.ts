import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { closeOnExecAll } from '../../src/kernel/close-on-exec.js';
import { closeOnExecPipe, reap, shellStatus, spawnInNewSession } from '../../src/kernel/posix-spawn.js';

// As the daemon does at its start: what this process inherited is not passed on.
closeOnExecAll();

/** Runs `file` with posix_spawn, its stdout on a pipe: what it printed, and its status as a shell gives it. */
async function run(file: string, ...args: string[]): Promise<{ stdout: string; status: number; pid: number }> {
  const [readEnd, writeEnd] = closeOnExecPipe();
  const pid = spawnInNewSession({ file, args, env: { PATH: '/usr/bin:/bin' }, descriptors: ['null', writeEnd, 2] });
  closeSync(writeEnd);
  let stdout = '';
  const pipe = new Socket({ fd: readEnd, readable: true, writable: false }).setEncoding('utf8');
  pipe.on('data', (chunk: string) => (stdout += chunk));
  await new Promise((resolve) => pipe.once('close', resolve));
  return { stdout, status: await reap(pid), pid };
}

test('a spawned process gets the descriptors given, none of the others; its exit code comes back', async () => {
  const r = await run('sh', '-c', 'ls /proc/$$/fd; exit 3');
  assert.deepEqual([r.stdout, r.status], ['0\n1\n2\n', 3]);
});

test('it leads a session of its own, with no signal ignored or blocked (Node ignores SIGPIPE)', async () => {
  // The process itself reads its own state (a shell's $$ would show the shell's, which
  // blocks signals while it forks).
  const r = await run('cat', '/proc/self/stat', '/proc/self/status');
  const stat = r.stdout.split('\n')[0]!;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // stat fields 6 (session) and 5 (process group), after the command name.
  assert.deepEqual([Number(fields[3]), Number(fields[2])], [r.pid, r.pid]);
  assert.match(r.stdout, /^SigIgn:\t0{16}$/m);
  assert.match(r.stdout, /^SigBlk:\t0{16}$/m);
});

test('killed by a signal: 128 + the signal, as a shell says', async () => {
  assert.equal((await run('sh', '-c', 'kill -KILL $$')).status, 137);
  assert.equal(shellStatus(0x0f), 143);
  assert.equal(shellStatus(42 << 8), 42);
});

test('a command that cannot be found is refused at spawn, with errno', () => {
  assert.throws(() => spawnInNewSession({ file: 'no-such-command-berth', args: [], env: {}, descriptors: ['null', 'null', 'null'] }), /cannot start no-such-command-berth: errno 2/);
});
