import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchExecutor, type Executor } from '../../src/kernel/exec.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import type { Plan } from '../../src/kernel/ops.js';
import { KernelError } from '../../src/common/errors.js';
import { leftovers, listBerthNetns, must, run, sandboxSkip } from '../world/world.js';

/**
 * One conformance suite that every executor runs: the same plan must leave the same
 * kernel state, a failing step must leave nothing, and the error must name the command.
 * The executors act on the namespace this test runs in (the sandbox's) and on namespaces
 * they create; each case cleans up after itself.
 */
const EXECUTORS: [string, () => Executor][] = [
  ['ip -batch', () => new BatchExecutor()],
  ['netlink', () => new NetlinkExecutor()],
];

/** The bridge's MAC: above any a port of these tests gets, which the kernel would otherwise give the bridge. */
const BRIDGE_MAC = 'fe:ff:ff:7b:00:01';
const bridgePlan = (br: string): Plan => [
  { kind: 'bridge-add', name: br, mac: BRIDGE_MAC },
  { kind: 'addr-add', dev: br, cidr: '10.123.0.1/24' },
  { kind: 'link-up', dev: br },
];

const attachPlan = (br: string, ns: string, veth: string): Plan => [
  { kind: 'netns-add', name: ns },
  { kind: 'veth-add', hostName: veth, master: br, peerName: 'eth0', peerMac: '02:42:0a:7b:00:02', peerNetns: ns },
  { kind: 'link-up', netns: ns, dev: 'lo' },
  { kind: 'addr-add', netns: ns, dev: 'eth0', cidr: '10.123.0.2/24' },
  { kind: 'link-up', netns: ns, dev: 'eth0' },
  { kind: 'route-add', netns: ns, dst: 'default', via: '10.123.0.1' },
];

/** The parts of `ip -j` output that a plan decides (not ifindexes, not kernel-chosen MACs). */
async function observed(br: string, ns: string, veth: string) {
  const inside = JSON.parse(await must('ip', ['-n', ns, '-j', 'addr'])) as any[];
  const routes = JSON.parse(await must('ip', ['-n', ns, '-j', 'route'])) as any[];
  const host = JSON.parse(await must('ip', ['-d', '-j', 'link', 'show', 'dev', veth])) as any[];
  const peer = JSON.parse(await must('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', 'eth0'])) as any[];
  const queuesOf = (l: any) => ({ tx: l.num_tx_queues, rx: l.num_rx_queues });
  const bridgeLink = (JSON.parse(await must('ip', ['-d', '-j', 'link', 'show', 'dev', br])) as any[])[0];
  const bridge = bridgeLink.linkinfo.info_data;
  return {
    bridge: { forwardDelay: bridge.forward_delay, stp: bridge.stp_state, multicastSnooping: bridge.mcast_snooping, mac: bridgeLink.address },
    inside: inside.map((l) => ({ name: l.ifname, mac: l.address, up: l.flags.includes('UP'), v4: l.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`) })),
    routes: routes.map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev}`),
    host: { master: host[0].master, up: host[0].flags.includes('UP') },
    queues: { host: queuesOf(host[0]), peer: queuesOf(peer[0]) },
    bridgeHasPort: (JSON.parse(await must('ip', ['-j', 'link', 'show', 'master', br])) as any[]).map((l) => l.ifname),
  };
}

describe('executor conformance', { skip: sandboxSkip }, () => {
  after(async () => assert.deepEqual(await leftovers(), []));

  const results = new Map<string, unknown>();
  for (const [name, make] of EXECUTORS) {
    /** A bridge `confbr<k>` and a sandbox attached to it (without its default route), given to `body`, then removed. */
    const withAttached = async (k: number, tag: string, body: (executor: Executor, br: string, ns: string) => Promise<void>): Promise<void> => {
      const executor = make();
      const br = `confbr${k}${name === 'netlink' ? 'n' : 'i'}`;
      const ns = `berth-conf${name === 'netlink' ? 'nl' : 'ip'}${k}${tag}`;
      await executor.apply(bridgePlan(br));
      try {
        await executor.apply(attachPlan(br, ns, `vethc0ffee${k}`).filter((op) => op.kind !== 'route-add'));
        await body(executor, br, ns);
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('ip', ['link', 'del', br]);
      }
    };

    test(`${name}: a bridge and an attach reach the planned state; teardown removes it`, async () => {
      const executor = make();
      const br = 'confbr0';
      const ns = `berth-conf${name === 'netlink' ? 'nl' : 'ip'}00000`;
      try {
        await executor.apply(bridgePlan(br));
        await executor.apply(attachPlan(br, ns, 'vethc0ffee0'));
        const state = await observed(br, ns, 'vethc0ffee0');
        assert.deepEqual(state.inside, [
          { name: 'lo', mac: '00:00:00:00:00:00', up: true, v4: ['127.0.0.1/8'] },
          { name: 'eth0', mac: '02:42:0a:7b:00:02', up: true, v4: ['10.123.0.2/24'] },
        ]);
        assert.deepEqual(state.host, { master: br, up: true });
        // One queue each way on both ends, asked for at creation (ops.ts VETH_QUEUES).
        assert.deepEqual(state.queues, { host: { tx: 1, rx: 1 }, peer: { tx: 1, rx: 1 } });
        // No multicast snooping (decisions.md), and no forward delay: without STP the kernel
        // still runs its timer per port and announces the port again 15 s after it joined.
        // Its MAC is the planned one although its port's is lower (drivers/bridge-mac.ts).
        assert.deepEqual(state.bridge, { forwardDelay: 0, stp: 0, multicastSnooping: 0, mac: BRIDGE_MAC });
        assert.equal((await run('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W2', '10.123.0.1'])).code, 0);
        results.set(name, state);
        await executor.apply([{ kind: 'link-del', dev: 'vethc0ffee0' }, { kind: 'netns-del', name: ns }]);
        assert.deepEqual(await listBerthNetns(), []);
        assert.equal((await run('ip', ['link', 'show', 'dev', 'vethc0ffee0'])).code, 1);
        // ...and stays when its last port has left (the kernel's own choice would be 00:00:00:00:00:00).
        assert.equal((JSON.parse(await must('ip', ['-j', 'link', 'show', 'dev', br])) as any[])[0].address, BRIDGE_MAC);
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('ip', ['link', 'del', br]);
      }
    });

    test(`${name}: a failing step undoes every earlier step and names the command`, async () => {
      const executor = make();
      const br = 'confbr1';
      const ns = 'berth-conffail0000';
      await executor.apply(bridgePlan(br));
      try {
        const plan = attachPlan(br, ns, 'vethfa11ed0');
        const failing: Plan = [...plan.slice(0, 4), { kind: 'addr-add', netns: ns, dev: 'missing0', cidr: '192.0.2.1/32' }, ...plan.slice(4)];
        await assert.rejects(executor.apply(failing), (e: unknown) =>
          e instanceof KernelError && e.message.startsWith(`kernel operation failed: ip -n ${ns} addr add 192.0.2.1/32 dev missing0: `));
        assert.deepEqual(await listBerthNetns(), []);
        assert.equal((await run('ip', ['link', 'show', 'dev', 'vethfa11ed0'])).code, 1);
        assert.deepEqual(JSON.parse(await must('ip', ['-j', 'link', 'show', 'master', br])), []);
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('ip', ['link', 'del', br]);
      }
    });

    test(`${name}: a step the kernel refuses among a plan's requests: the error is that step's, the steps before it are undone, the ones after it never applied`, async () => {
      await withAttached(4, 'refuse', async (executor, br, ns) => {
        // The kernel refuses the second (the address exists).
        await assert.rejects(
          executor.apply([
            { kind: 'addr-add', netns: ns, dev: 'eth0', cidr: '10.123.0.9/24' },
            { kind: 'addr-add', netns: ns, dev: 'eth0', cidr: '10.123.0.2/24' },
            { kind: 'route-add', netns: ns, dst: 'default', via: '10.123.0.1' },
          ]),
          (e: unknown) => e instanceof KernelError && e.message.startsWith(`kernel operation failed: ip -n ${ns} addr add 10.123.0.2/24 dev eth0: `),
        );
        const inside = JSON.parse(await must('ip', ['-n', ns, '-j', 'addr', 'show', 'eth0'])) as any[];
        assert.deepEqual(inside[0].addr_info.filter((a: any) => a.family === 'inet').map((a: any) => a.local), ['10.123.0.2']);
        assert.deepEqual(JSON.parse(await must('ip', ['-n', ns, '-j', 'route', 'show', 'default'])), []);
      });
    });

    test(`${name}: steps in two namespaces: a refusal in the sandbox undoes the host's step`, async () => {
      await withAttached(6, 'both', async (executor, br, ns) => {
        await assert.rejects(
          executor.apply([
            { kind: 'addr-add', dev: br, cidr: '10.124.0.1/24' },
            { kind: 'addr-add', netns: ns, dev: 'eth0', cidr: '10.123.0.2/24' },
          ]),
          (e: unknown) => e instanceof KernelError && e.message.startsWith(`kernel operation failed: ip -n ${ns} addr add 10.123.0.2/24 dev eth0: `),
        );
        assert.doesNotMatch(await must('ip', ['-4', 'addr', 'show', 'dev', br]), /10\.124\.0\.1/);
      });
    });

    test(`${name}: a rename refused after the down before it: the link is up again under its own name`, async () => {
      await withAttached(5, 'rename', async (executor, br, ns) => {
        // A disconnect's two steps inside; "lo" is taken, so the rename is refused.
        await assert.rejects(
          executor.apply([
            { kind: 'link-down', netns: ns, dev: 'eth0' },
            { kind: 'link-rename', netns: ns, dev: 'eth0', name: 'lo' },
          ]),
          (e: unknown) => e instanceof KernelError && e.message.startsWith(`kernel operation failed: ip -n ${ns} link set dev eth0 name lo: `),
        );
        const eth0 = JSON.parse(await must('ip', ['-n', ns, '-j', 'link', 'show', 'eth0'])) as any[];
        assert.ok(eth0[0].flags.includes('UP'), 'the down was undone');
        // And a down and rename the kernel accepts leave the link down under its new name.
        await executor.apply([
          { kind: 'link-down', netns: ns, dev: 'eth0' },
          { kind: 'link-rename', netns: ns, dev: 'eth0', name: 'gonec0ffee5' },
        ]);
        const gone = JSON.parse(await must('ip', ['-n', ns, '-j', 'link', 'show', 'gonec0ffee5'])) as any[];
        assert.ok(!gone[0].flags.includes('UP'));
        assert.notEqual((await run('ip', ['-n', ns, 'link', 'show', 'eth0'])).code, 0);
      });
    });

    test(`${name}: deleting a link that is already gone is done, and the rest of the plan still applies`, async () => {
      const executor = make();
      const br = `confbr3${name === 'netlink' ? 'n' : 'i'}`;
      try {
        await executor.apply([{ kind: 'link-del', dev: 'vethg0e0000' }, ...bridgePlan(br), { kind: 'link-del', dev: 'vethg0e0001' }]);
        assert.equal((await run('ip', ['link', 'show', 'dev', br])).code, 0);
      } finally {
        await run('ip', ['link', 'del', br]);
      }
    });

    test(`${name}: a bridge's alias, and a port put back on a re-created bridge (reconcile's repairs)`, async () => {
      const executor = make();
      const br = 'confbr2';
      const ns = `berth-conf${name === 'netlink' ? 'nl' : 'ip'}alias0`;
      try {
        await executor.apply([...bridgePlan(br), { kind: 'link-alias', dev: br, alias: 'berth-network:c0ffee' }]);
        await executor.apply(attachPlan(br, ns, 'vethc0ffee1'));
        assert.equal((JSON.parse(await must('ip', ['-j', 'link', 'show', 'dev', br])) as any[])[0].ifalias, 'berth-network:c0ffee');
        // Someone deletes the bridge: its port stays, without a master.
        await must('ip', ['link', 'del', br]);
        await executor.apply(bridgePlan(br));
        await executor.apply([{ kind: 'port-attach', dev: 'vethc0ffee1', master: br }, { kind: 'port-hairpin', dev: 'vethc0ffee1' }]);
        const port = (JSON.parse(await must('ip', ['-j', '-d', 'link', 'show', 'dev', 'vethc0ffee1'])) as any[])[0];
        assert.equal(port.master, br);
        assert.equal(port.linkinfo.info_slave_data.hairpin, true);
        assert.equal((await run('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W2', '10.123.0.1'])).code, 0);
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('ip', ['link', 'del', br]);
      }
    });

    test(`${name}: a macvlan endpoint born in its namespace, with its MAC and mode, and one on the host`, async () => {
      const executor = make();
      const ns = `berth-conf${name === 'netlink' ? 'nl' : 'ip'}macv0`;
      await must('ip', ['link', 'add', 'confup0', 'type', 'veth', 'peer', 'name', 'conflan0']);
      try {
        await executor.apply([
          { kind: 'netns-add', name: ns },
          { kind: 'macvlan-add', name: 'eth0', parent: 'confup0', mode: 'private', netns: ns, mac: '02:42:c0:00:02:07', mtu: 1400 },
          { kind: 'addr-add', netns: ns, dev: 'eth0', cidr: '192.0.2.7/24' },
          { kind: 'link-up', netns: ns, dev: 'eth0' },
          { kind: 'macvlan-add', name: 'confmh0', parent: 'confup0', mode: 'bridge' },
        ]);
        const inside = (JSON.parse(await must('ip', ['-n', ns, '-j', '-d', 'addr', 'show', 'eth0'])) as any[])[0];
        const state = { mac: inside.address, mtu: inside.mtu, mode: inside.linkinfo.info_data.mode, up: inside.flags.includes('UP'), v4: inside.addr_info.find((a: any) => a.family === 'inet')?.local };
        assert.deepEqual(state, { mac: '02:42:c0:00:02:07', mtu: 1400, mode: 'private', up: true, v4: '192.0.2.7' });
        const host = (JSON.parse(await must('ip', ['-j', '-d', 'link', 'show', 'confmh0'])) as any[])[0];
        assert.deepEqual([host.link, host.linkinfo.info_data.mode], ['confup0', 'bridge']);
        results.set(`${name} macvlan`, state);
        // A parent that does not exist: the error names the command, nothing is left.
        await assert.rejects(executor.apply([{ kind: 'macvlan-add', name: 'eth1', parent: 'nosuch0', mode: 'bridge', netns: ns }]), (e: unknown) =>
          e instanceof KernelError && e.message.startsWith(`kernel operation failed: ip link add link nosuch0 name eth1 netns ${ns} type macvlan mode bridge: `));
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('ip', ['link', 'del', 'confup0']);
      }
    });

    test(`${name}: nftables transactions in the host and in a namespace, all or nothing; a bridge with its MTU`, async () => {
      const executor = make();
      const tag = name === 'netlink' ? 'nl' : 'ip';
      const ns = `berth-conf${tag}nft0`;
      const table = (element: string) => `table ip conf${tag} {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { ${element} }\n\t}\n}\n`;
      try {
        await executor.apply([
          { kind: 'netns-add', name: ns },
          { kind: 'nft-apply', description: 'host table', script: table('192.0.2.1'), undoScript: `delete table ip conf${tag}\n` },
          { kind: 'nft-apply', netns: ns, description: 'namespace table', script: table('192.0.2.2') },
          { kind: 'bridge-add', name: `confbr${tag}`, mac: '02:00:00:7b:00:fe', mtu: 1400 },
        ]);
        assert.match(await must('nft', ['list', 'set', 'ip', `conf${tag}`, 's']), /elements = \{ 192\.0\.2\.1 \}/);
        assert.match(await must('ip', ['netns', 'exec', ns, 'nft', 'list', 'set', 'ip', `conf${tag}`, 's']), /elements = \{ 192\.0\.2\.2 \}/);
        assert.equal((JSON.parse(await must('ip', ['-j', '-d', 'link', 'show', `confbr${tag}`])) as any[])[0].mtu, 1400);
        // A failing transaction: the error is nft's, named by the command; the step before it is undone.
        await assert.rejects(
          executor.apply([
            { kind: 'nft-apply', description: 'second host table', script: `table ip conf${tag}b {\n}\n`, undoScript: `delete table ip conf${tag}b\n` },
            { kind: 'nft-apply', description: 'bad', script: 'add rule ip nosuch nosuch drop\n' },
          ]),
          (e: unknown) => e instanceof KernelError && /^kernel operation failed: nft -f - .*: Error: /s.test(e.message),
        );
        assert.notEqual((await run('nft', ['list', 'table', 'ip', `conf${tag}b`])).code, 0, 'the earlier step was undone');
      } finally {
        await run('ip', ['netns', 'del', ns]);
        await run('nft', ['delete', 'table', 'ip', `conf${tag}`]);
        await run('ip', ['link', 'del', `confbr${tag}`]);
      }
    });

    test(`${name}: an overlay peer's FDB entry and neighbour on a VXLAN link, replaced and deleted`, async () => {
      const executor = make();
      const vx = `confvx${name === 'netlink' ? 'nl' : 'ip'}`;
      const fdb = async () => (await must('bridge', ['fdb', 'show', 'dev', vx])).split('\n').filter((l) => / dst /.test(l)).map((l) => l.trim());
      const neigh = async () => (await must('ip', ['neigh', 'show', 'dev', vx])).trim();
      try {
        await executor.apply([{ kind: 'vxlan-add', name: vx, vni: 4242, local: '127.0.0.1', dstport: 4789 }]);
        await executor.apply([
          { kind: 'fdb-replace', dev: vx, mac: '02:42:0a:32:00:07', dst: '192.0.2.7' },
          { kind: 'neigh-replace', dev: vx, address: '10.50.0.7', mac: '02:42:0a:32:00:07' },
        ]);
        const added = { fdb: await fdb(), neigh: await neigh() };
        // The same MAC moved to another host: replaced, not doubled.
        await executor.apply([{ kind: 'fdb-replace', dev: vx, mac: '02:42:0a:32:00:07', dst: '192.0.2.8' }]);
        const moved = await fdb();
        await executor.apply([
          { kind: 'fdb-del', dev: vx, mac: '02:42:0a:32:00:07', dst: '192.0.2.8' },
          { kind: 'neigh-del', dev: vx, address: '10.50.0.7' },
        ]);
        const removed = { fdb: await fdb(), neigh: await neigh() };
        results.set(`${name} vxlan`, { added, moved, removed });
        assert.deepEqual(added.fdb, ['02:42:0a:32:00:07 dst 192.0.2.7 self permanent']);
        assert.match(added.neigh, /^10\.50\.0\.7 lladdr 02:42:0a:32:00:07 PERMANENT$/);
        assert.deepEqual(moved, ['02:42:0a:32:00:07 dst 192.0.2.8 self permanent']);
        assert.deepEqual(removed, { fdb: [], neigh: '' });
      } finally {
        await run('ip', ['link', 'del', vx]);
      }
    });
  }

  test('both executors leave identical state', () => {
    assert.equal(results.size, 6);
    assert.deepEqual(results.get('netlink'), results.get('ip -batch'));
    assert.deepEqual(results.get('netlink macvlan'), results.get('ip -batch macvlan'));
    assert.deepEqual(results.get('netlink vxlan'), results.get('ip -batch vxlan'));
  });
});
