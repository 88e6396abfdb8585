import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeTaskName } from '../../src/kernel/drop-reasons.js';
import { pingNamed, sendProbe } from '../../src/kernel/path-probe.js';
import { runTool } from '../../src/kernel/spawn.js';
import { sandboxSkip } from '../world/world.js';

/**
 * The probe's ping runs under a random name of the daemon's own. ping reads a name ending in
 * 4 or 6 as ping4 or ping6; as "ping6" it refused every IPv4 address, and the probe called
 * every ICMP path of that daemon silent (CI failed on it, one daemon in sixteen). Every last
 * character a name can be drawn with must send an IPv4 echo that comes back.
 */
test('the probe\'s ping answers under every name the daemon can draw', { skip: sandboxSkip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-probe-test-'));
  try {
    for (let last = 0; last < 16; last++) {
      const name = probeTaskName(Buffer.from([0x12, 0x34, 0x56, last]));
      assert.ok(name.length <= 15, `${name}: the kernel keeps 15 characters of a task's name`);
      const ping = await runTool(await pingNamed(name, dir), ['-n', '-c', '1', '-W', '1', '127.0.0.1']);
      assert.equal(ping.code, 0, `${name}: ${ping.stderr}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a probe whose ping cannot send is an error, not a silent path', { skip: sandboxSkip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-probe-test-'));
  try {
    assert.equal(await sendProbe(undefined, 'icmp', '127.0.0.1', undefined, 500, dir), 'answered');
    await assert.rejects(sendProbe('berth-no-such-namespace', 'icmp', '127.0.0.1', undefined, 500, dir), /the probe's ping could not send: nsenter: .*berth-no-such-namespace/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
