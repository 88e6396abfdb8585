import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BERTH_BIN, sandboxSkip, sleep, World } from '../world/world.js';

/**
 * The daemon's own process: it runs with V8's --optimize-for-size (bin/berth's interpreter
 * line; docs/decisions.md: the daemon's memory at 1,000 containers), started in the
 * foreground and with `daemon -d`, which starts it again in the background.
 */

const V8_FLAG = '--optimize-for-size';

function commandLineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
}

function pidIn(readyLine: string): number {
  const pid = /berth daemon ready \(pid (\d+)/.exec(readyLine)?.[1];
  assert.ok(pid, `no pid in: ${readyLine}`);
  return Number(pid);
}

describe('the daemon process', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => w?.dispose());

  test('the foreground daemon runs with V8 sized for memory', () => {
    const argv = commandLineOf(pidIn(w.daemonOutput));
    assert.ok(argv.includes(V8_FLAG), argv.join(' '));
    assert.ok(argv.includes('daemon'), argv.join(' '));
  });

  test('daemon -d starts it in the background with the same flags, and returns once it answers', async () => {
    await w.killDaemon('SIGTERM');
    const r = await w.inHost(BERTH_BIN, 'daemon', '-d', '--data-root', `${w.dir}/data`, '--exec-root', `${w.dir}/exec`, '--repair-interval', '0');
    assert.equal(r.code, 0, r.stderr);
    const pid = pidIn(r.stdout + r.stderr);
    try {
      assert.ok(commandLineOf(pid).includes(V8_FLAG), commandLineOf(pid).join(' '));
      assert.equal((await w.berth('ps')).code, 0);
    } finally {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          break;
        }
        await sleep(25);
      }
    }
  });
});
