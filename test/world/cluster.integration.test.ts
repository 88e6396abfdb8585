import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { run, sandboxSkip } from './world.js';
import { ClusterWorld, UNDERLAY_PREFIX } from './cluster.js';

/**
 * The multi-host world itself (part 7's test bed): three hosts on one underlay, each with
 * its own daemon and its own /run/netns, and a real etcd every host reaches over the
 * underlay. What the overlay tests will rely on is checked here first.
 */
describe('a cluster world of three hosts', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  before(async () => {
    w = await ClusterWorld.create({ hosts: 3 });
  });
  after(async () => {
    await w?.dispose();
    // Nothing of the world is left in the sandbox.
    assert.equal((await run('ip', ['link', 'show', w.underlay])).code, 1);
    assert.deepEqual((await run('ip', ['netns', 'list'])).stdout.split('\n').filter((l) => l.includes(w.id)), []);
    assert.doesNotMatch((await run('ps', ['-eo', 'args'])).stdout, new RegExp(w.dir));
  });

  test('each host has a daemon, an underlay address, and reaches the others and etcd', async () => {
    for (const h of w.hosts) {
      assert.match(await w.berthOk(h.index, 'network', 'ls'), /bridge/);
      for (const other of w.hosts.filter((o) => o !== h)) {
        assert.equal((await w.onHost(h.index, 'ping', '-c1', '-W2', other.address)).code, 0, `host ${h.index} -> ${other.address}`);
      }
      const health = await w.onHost(h.index, process.execPath, '-e', `require('http').get('${w.etcd!.endpoints[0]}/health', (r) => r.pipe(process.stdout))`);
      assert.match(health.stdout, /"health":\s*"true"/, `host ${h.index} reaches etcd at ${UNDERLAY_PREFIX}.1`);
    }
  });

  test('each host has its own /run/netns: a crash and restart of one daemon leaves the others\' sandboxes alone', async () => {
    for (const h of w.hosts) await w.berthOk(h.index, 'run', '-d', '--name', `c${h.index}`, '--', 'sleep', '1000');
    const sandboxes = async (i: number) => (await w.onHost(i, 'ip', 'netns', 'list')).stdout.split('\n').filter((l) => l.startsWith('berth-'));
    for (const h of w.hosts) assert.equal((await sandboxes(h.index)).length, 1, `host ${h.index} sees only its own sandbox`);
    const before1 = await sandboxes(1);
    await w.killDaemon(0);
    assert.equal(await w.startDaemon(0), undefined);
    assert.deepEqual(await sandboxes(1), before1, 'host 1 keeps its sandbox');
    assert.equal((await w.berth(1, 'exec', 'c1', 'ping', '-c1', '-W2', '172.17.0.1')).code, 0);
    assert.equal((await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W2', '172.17.0.1')).code, 0, 'host 0 adopted its container');
    for (const h of w.hosts) await w.berthOk(h.index, 'rm', '-f', `c${h.index}`);
  });
});
