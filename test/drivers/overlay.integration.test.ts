import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DriverEndpoint, DriverNetwork, RemoteEndpoint } from '../../src/drivers/driver.js';
import { joinPlan } from '../../src/drivers/driver.js';
import { OverlayDriver } from '../../src/drivers/overlay/driver.js';
import { ALL_FEATURES } from '../../src/kernel/features.js';
import type { Plan } from '../../src/kernel/ops.js';
import { viewOf } from '../../src/kernel/view.js';
import { ClusterWorld } from '../world/cluster.js';
import { must, REPO, run, sandboxSkip } from '../world/world.js';

/**
 * The overlay driver's plans on the real kernel of three hosts (namespaces on one
 * underlay), applied as the engine will apply them: the network on every host, one
 * container each, and the remote endpoints programmed with peersChanged. The engine's
 * cluster wiring (records in etcd, the watch) is tested on its own; this is the data plane.
 */
const ID = '0ve71a7e5700'.padEnd(64, '1');
const SUBNET = { subnet: '10.30.0.0/24', gateway: '10.30.0.1', auxAddresses: {} };
const NETWORK: DriverNetwork = {
  id: ID,
  name: 'ov',
  driver: 'overlay',
  internal: false,
  subnets: [SUBNET],
  data: { vni: 4321, mtu: 1450, bridge: 'ov-0ve71a7e5700', vxlan: 'vx-0ve71a7e5700' },
};

describe('overlay driver across three hosts', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  const ct = (i: number) => `ov${i}-${w.id}`;
  const driver = (i: number) => new OverlayDriver(ALL_FEATURES, w.hosts[i]!.address);
  const endpoints: DriverEndpoint[] = [];
  const remote = (i: number): RemoteEndpoint => ({ address: endpoints[i]!.address, mac: endpoints[i]!.mac!, vtep: w.hosts[i]!.address });
  const others = (i: number) => [0, 1, 2].filter((j) => j !== i).map(remote);

  const applyOn = async (i: number, plan: Plan) => {
    const script = `import('${REPO}dist/src/kernel/exec.js').then((m) => new m.BatchExecutor().apply(JSON.parse(process.argv[1]))).catch((e) => { console.error(e.message); process.exit(1); })`;
    const r = await run('ip', ['netns', 'exec', w.hosts[i]!.netns, process.execPath, '-e', script, JSON.stringify(plan)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const inContainer = (i: number, ...cmd: string[]) => run('ip', ['netns', 'exec', ct(i), ...cmd]);
  const pings = async (from: number, address: string) => (await inContainer(from, 'ping', '-c1', '-W2', address)).code === 0;
  const onHost = async (i: number, ...cmd: string[]) => (await must('ip', ['netns', 'exec', w.hosts[i]!.netns, ...cmd])).trim();

  before(async () => {
    w = await ClusterWorld.create({ hosts: 3, withoutDaemons: true });
    for (const i of [0, 1, 2]) {
      await must('ip', ['netns', 'add', ct(i)]);
      const address = `10.30.0.${2 + i}`;
      const names = driver(i).createEndpoint(NETWORK, { ifname: 'eth0', address, takenHostNames: new Set() });
      endpoints.push({ id: `e${i}`, ...names, address, prefixLength: 24 });
    }
    for (const i of [0, 1, 2]) {
      const d = driver(i);
      await applyOn(i, [...d.createNetwork(NETWORK), { kind: 'link-up', netns: ct(i), dev: 'lo' }, ...joinPlan(ct(i), d.join(NETWORK, ct(i), endpoints[i]!), true), ...d.peersChanged(NETWORK, [], others(i))]);
    }
  });
  after(async () => {
    for (const i of [0, 1, 2, 9]) await run('ip', ['netns', 'del', ct(i)]);
    await w?.dispose();
  });

  test('every container reaches the other two; a 1422-byte don\'t-fragment ping crosses (MTU 1450 on a 1500 underlay)', async () => {
    for (const [from, to] of [[0, 1], [1, 2], [2, 0]] as const) assert.equal(await pings(from, endpoints[to]!.address), true, `${from} -> ${to}`);
    assert.equal((await inContainer(0, 'ping', '-c1', '-W2', '-M', 'do', '-s', '1422', endpoints[2]!.address)).code, 0);
    assert.match(await onHost(0, 'ip', '-d', 'link', 'show', 'vx-0ve71a7e5700'), /vxlan id 4321 local 203\.0\.113\.\d+ .*dstport 4789 nolearning/);
    assert.equal(await onHost(0, 'ip', '-4', 'addr', 'show', 'dev', 'ov-0ve71a7e5700'), '', 'the bridge holds no IPv4 address: no host route into the network');
  });

  test('programming the same peers again (a restart) changes nothing and breaks nothing', async () => {
    const fdbBefore = await onHost(0, 'bridge', 'fdb', 'show', 'dev', 'vx-0ve71a7e5700');
    await applyOn(0, driver(0).peersChanged(NETWORK, [], others(0)));
    assert.equal(await onHost(0, 'bridge', 'fdb', 'show', 'dev', 'vx-0ve71a7e5700'), fdbBefore);
    assert.equal(await pings(0, endpoints[1]!.address), true);
  });

  test('an endpoint gone from the cluster leaves no FDB or neighbour entry; its address reused by a container on another host works at once (no stale VTEP)', async () => {
    const gone = remote(2);
    await applyOn(0, driver(0).peersChanged(NETWORK, others(0), [remote(1)]));
    // The VXLAN link's own entry (dst VTEP) is what sends frames across; the bridge's learned one only points at the VXLAN port.
    assert.doesNotMatch(await onHost(0, 'bridge', 'fdb', 'show', 'dev', 'vx-0ve71a7e5700'), new RegExp(`^${gone.mac} dst`, 'm'));
    assert.doesNotMatch(await onHost(0, 'ip', 'neigh', 'show', 'dev', 'vx-0ve71a7e5700'), new RegExp(`^${gone.address.replaceAll('.', '\\.')} `, 'm'));
    assert.equal(await pings(0, gone.address), false, 'unreachable once gone');
    // A new container on host 1 takes .4, and with it the MAC derived from the address: only the VTEP differs (moby/moby#52661).
    const reused: RemoteEndpoint = { ...gone, vtep: w.hosts[1]!.address };
    await must('ip', ['netns', 'add', ct(9)]);
    const names = driver(1).createEndpoint(NETWORK, { ifname: 'eth0', address: reused.address, takenHostNames: new Set([endpoints[1]!.hostIfname!]) });
    await applyOn(1, [...driver(1).join(NETWORK, ct(9), { id: 'e9', ...names, address: reused.address, prefixLength: 24 }).plan, ...driver(1).peersChanged(NETWORK, [], [remote(0)])]);
    await applyOn(0, driver(0).peersChanged(NETWORK, [remote(1)], [remote(1), reused]));
    assert.match(await onHost(0, 'bridge', 'fdb', 'show', 'dev', 'vx-0ve71a7e5700'), new RegExp(`^${reused.mac} dst ${reused.vtep.replaceAll('.', '\\.')} self permanent`, 'm'));
    assert.equal(await pings(0, reused.address), true, 'the new holder answers');
  });

  test('a VXLAN link deleted by hand is repaired, and programming the peers again restores the traffic', async () => {
    await onHost(0, 'ip', 'link', 'del', 'vx-0ve71a7e5700');
    const live = viewOf([{ name: 'ov-0ve71a7e5700', kind: 'bridge' }]);
    await applyOn(0, [...driver(0).repair(NETWORK, [], live), ...driver(0).peersChanged(NETWORK, [], [remote(1)])]);
    assert.equal(await pings(0, endpoints[1]!.address), true);
  });
});
