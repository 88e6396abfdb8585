import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../src/store/etcd.js';
import { ClusterWorld } from '../world/cluster.js';
import { sandboxSkip, sleep } from '../world/world.js';

/**
 * Hosts joining a cluster (part 7): three daemons with --cluster-store on a real etcd,
 * each present under a lease. A host killed with -9 vanishes within the lease's TTL; a
 * clean stop removes it at once; a restart brings it back. Bad flags and an unreachable
 * store stop the daemon with a specific error.
 */
const TTL = 3;

describe('cluster membership (--cluster-store, --cluster-advertise)', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  let store: EtcdStore;
  const clusterArgs = (w: ClusterWorld, address: string) => ['--cluster-store', w.etcd!.endpoints.map((e) => e.replace('http://', 'etcd://')).join(','), '--cluster-advertise', address, '--cluster-lease-ttl', String(TTL)];
  const present = async () => (await store.list('hosts')).map((h) => h.id).sort();
  before(async () => {
    w = await ClusterWorld.create({ hosts: 3, daemonArgs: (cw, h) => clusterArgs(cw, h.address) });
    store = new EtcdStore({ endpoints: w.etcd!.endpoints });
  });
  after(async () => {
    store?.close();
    await w?.dispose();
  });

  test('every host is present in the cluster store, under its advertised address', async () => {
    assert.deepEqual(await present(), w.hosts.map((h) => h.address).sort());
    const h0 = await store.get('hosts', w.hosts[0]!.address);
    assert.equal((h0?.value as { address: string }).address, w.hosts[0]!.address);
    assert.match(w.hosts[0]!.output, /cluster store http:\/\/203\.0\.113\.1:\d+, this host 203\.0\.113\.10 \(lease 3 s\)/);
  });

  test('a host killed with -9 vanishes within the lease TTL; restarted, it is back', async () => {
    const victim = w.hosts[2]!;
    await w.killDaemon(2, 'SIGKILL');
    const killed = Date.now();
    while ((await present()).includes(victim.address) && Date.now() - killed < (TTL + 5) * 1000) await sleep(100);
    const gone = Date.now() - killed;
    assert.ok(!(await present()).includes(victim.address), `still present ${gone} ms after the kill`);
    assert.ok(gone <= (TTL + 2) * 1000, `took ${gone} ms for a ${TTL} s lease`);
    assert.equal(await w.startDaemon(2, clusterArgs(w, victim.address)), undefined);
    assert.ok((await present()).includes(victim.address));
  });

  test('a clean stop (SIGTERM) removes the host at once', async () => {
    const host = w.hosts[1]!;
    await w.killDaemon(1, 'SIGTERM');
    assert.ok(!(await present()).includes(host.address));
    assert.equal(await w.startDaemon(1, clusterArgs(w, host.address)), undefined);
  });

  test('bad cluster flags and an unreachable store stop the daemon with a specific error', async () => {
    await w.killDaemon(0, 'SIGTERM');
    const cases: [string[], RegExp][] = [
      [['--cluster-store', 'http://203.0.113.1:2379', '--cluster-advertise', '203.0.113.10'], /Error: invalid --cluster-store "http:\/\/203\.0\.113\.1:2379"/],
      [['--cluster-store', 'etcd://203.0.113.1:2379'], /Error: --cluster-store needs --cluster-advertise/],
      [['--cluster-store', 'etcd://203.0.113.1:2379', '--cluster-advertise', 'eth0'], /Error: invalid --cluster-advertise "eth0"/],
      [['--cluster-advertise', '203.0.113.10'], /Error: --cluster-advertise and --cluster-lease-ttl need --cluster-store/],
      [[...clusterArgs(w, '203.0.113.99').slice(0, 4)], /Error: --cluster-advertise 203\.0\.113\.99 is not an address of this host/],
      [[...clusterArgs(w, '203.0.113.10').slice(0, 4), '--cluster-lease-ttl', '0'], /Error: invalid --cluster-lease-ttl "0"/],
      [['--cluster-store', 'etcd://203.0.113.1:9', '--cluster-advertise', '203.0.113.10'], /Error: the cluster store \(etcd at http:\/\/203\.0\.113\.1:9\) did not answer/],
    ];
    for (const [args, message] of cases) {
      const started = Date.now();
      const output = await w.startDaemon(0, args);
      assert.match(output ?? 'it started', message, args.join(' '));
      assert.ok(Date.now() - started < 15_000, `${args.join(' ')}: took ${Date.now() - started} ms`);
    }
    assert.equal(await w.startDaemon(0, clusterArgs(w, w.hosts[0]!.address)), undefined);
  });
});
