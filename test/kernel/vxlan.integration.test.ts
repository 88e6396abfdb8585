import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Plan } from '../../src/kernel/ops.js';
import { ClusterWorld } from '../world/cluster.js';
import { must, REPO, run, sandboxSkip } from '../world/world.js';

/**
 * The data plane of part 7's overlay, op by op, on two hosts of a cluster world: a bridge
 * and a VXLAN link per host (VNI 4242, UDP 4789, learning off, ARP proxy on), a container
 * namespace on each with MTU 1450 (the 1500 underlay minus VXLAN's 50 bytes), and a
 * static FDB entry plus a permanent neighbour entry per remote container. Host 0 applies
 * its plan with the in-process executor, host 1 with `ip`/`bridge -batch`.
 */
const MAC = ['02:42:0a:1e:00:02', '02:42:0a:1e:00:03'];
const IP = ['10.30.0.2', '10.30.0.3'];

describe('VXLAN data plane across two hosts', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  const ct = (i: number) => `ct${i}-${w.id}`;

  /** Applies a plan inside host `i`'s network namespace, with the executor named. */
  const applyOn = async (i: number, executor: 'NetlinkExecutor' | 'BatchExecutor', plan: Plan) => {
    const module = executor === 'NetlinkExecutor' ? 'kernel/netlink/executor.js' : 'kernel/exec.js';
    const script = `import('${REPO}dist/src/${module}').then((m) => new m.${executor}().apply(JSON.parse(process.argv[1]))).catch((e) => { console.error(e.message); process.exit(1); })`;
    const r = await run('ip', ['netns', 'exec', w.hosts[i]!.netns, process.execPath, '-e', script, JSON.stringify(plan)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const inContainer = (i: number, ...cmd: string[]) => run('ip', ['netns', 'exec', ct(i), ...cmd]);

  before(async () => {
    w = await ClusterWorld.create({ hosts: 2, withoutDaemons: true });
    for (const i of [0, 1]) {
      const other = 1 - i;
      // The container's namespace is pinned from here: one pinned inside `ip netns exec`
      // would live in that command's private mount namespace and die with it.
      await must('ip', ['netns', 'add', ct(i)]);
      await applyOn(i, i === 0 ? 'NetlinkExecutor' : 'BatchExecutor', [
        { kind: 'bridge-add', name: 'ov0', mac: `02:00:00:00:0${i}:01` },
        { kind: 'link-up', dev: 'ov0' },
        { kind: 'vxlan-add', name: 'vx0', vni: 4242, local: w.hosts[i]!.address, dstport: 4789, mtu: 1450 },
        { kind: 'port-attach', dev: 'vx0', master: 'ov0' },
        { kind: 'link-up', dev: 'vx0' },
        { kind: 'veth-add', hostName: 'vct0', master: 'ov0', peerName: 'eth0', peerMac: MAC[i]!, peerNetns: ct(i), mtu: 1450 },
        { kind: 'link-up', netns: ct(i), dev: 'lo' },
        { kind: 'addr-add', netns: ct(i), dev: 'eth0', cidr: `${IP[i]!}/24` },
        { kind: 'link-up', netns: ct(i), dev: 'eth0' },
        { kind: 'fdb-replace', dev: 'vx0', mac: MAC[other]!, dst: w.hosts[other]!.address },
        { kind: 'neigh-replace', dev: 'vx0', address: IP[other]!, mac: MAC[other]! },
      ]);
    }
  });
  after(async () => {
    for (const i of [0, 1]) await run('ip', ['netns', 'del', ct(i)]);
    await w?.dispose();
  });

  test('the VXLAN link is as planned: VNI, local VTEP, port, no learning, ARP proxy, MTU 1450', async () => {
    const vx = JSON.parse((await run('ip', ['-n', w.hosts[0]!.netns, '-j', '-d', 'link', 'show', 'vx0'])).stdout)[0];
    assert.equal(vx.mtu, 1450);
    assert.equal(vx.master, 'ov0');
    assert.equal(vx.linkinfo.info_data.id, 4242);
    assert.equal(vx.linkinfo.info_data.local, w.hosts[0]!.address);
    assert.equal(vx.linkinfo.info_data.port, 4789);
    assert.equal(vx.linkinfo.info_data.learning, false);
    assert.equal(vx.linkinfo.info_data.proxy, true);
    const fdb = (await run('ip', ['netns', 'exec', w.hosts[0]!.netns, 'bridge', 'fdb', 'show', 'dev', 'vx0'])).stdout;
    assert.match(fdb, new RegExp(`^${MAC[1]!} dst ${w.hosts[1]!.address.replaceAll('.', '\\.')} self permanent`, 'm'));
  });

  test('a container reaches the other host\'s with a 1422-byte don\'t-fragment ping; 1423 bytes do not fit', async () => {
    assert.equal((await inContainer(0, 'ping', '-c1', '-W2', '-M', 'do', '-s', '1422', IP[1]!)).code, 0);
    assert.equal((await inContainer(1, 'ping', '-c1', '-W2', '-M', 'do', '-s', '1422', IP[0]!)).code, 0);
    assert.notEqual((await inContainer(0, 'ping', '-c1', '-W1', '-M', 'do', '-s', '1423', IP[1]!)).code, 0);
  });

  test('the static FDB entry is what carries the traffic: without it, nothing crosses', async () => {
    await applyOn(0, 'BatchExecutor', [{ kind: 'fdb-del', dev: 'vx0', mac: MAC[1]!, dst: w.hosts[1]!.address }]);
    assert.notEqual((await inContainer(0, 'ping', '-c1', '-W1', IP[1]!)).code, 0);
    await applyOn(0, 'NetlinkExecutor', [{ kind: 'fdb-replace', dev: 'vx0', mac: MAC[1]!, dst: w.hosts[1]!.address }]);
    assert.equal((await inContainer(0, 'ping', '-c1', '-W2', IP[1]!)).code, 0);
  });
});
