import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { BerthError } from '../../src/common/errors.js';
import { joinPlan, ownerAlias, type DriverEndpoint, type DriverNetwork, type NetworkDriver, type RecordedEndpoint } from '../../src/drivers/driver.js';
import { builtinDrivers, type DriverRegistry } from '../../src/drivers/registry.js';
import { newNetwork, type CreateNetworkRequest } from '../../src/engine/network-create.js';
import { driverNetwork } from '../../src/engine/networks.js';
import { builtinNetworks } from '../engine/fixtures.js';
import { DOCKER_DEFAULT_POOLS } from '../../src/ipam/subnets.js';
import { probeKernelFeatures, type KernelFeatures } from '../../src/kernel/features.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import { reapsSettled } from '../../src/kernel/reaper.js';
import { readKernelView } from '../../src/kernel/view.js';
import { must, run, sandboxSkip, sleep } from '../world/world.js';

/**
 * The driver conformance suite: every driver, every configuration below, on the real kernel
 * (the sandbox's own private namespace is the "host"), must
 *  - refuse bad options with a specific error and create nothing;
 *  - create its network so that repair finds nothing to do;
 *  - join a sandbox (interface, address, default route as its join info says) and leave it;
 *  - repair every kind of drift — its host links deleted, set down, stripped of their
 *    addresses; the endpoint deleted in the sandbox — back to exactly the state before,
 *    after which repair finds nothing to do again;
 *  - delete its network whatever is left of it, twice.
 * A driver the kernel cannot run is skipped, with that reason.
 */

const features: KernelFeatures | undefined = sandboxSkip ? undefined : await probeKernelFeatures();
const drivers: DriverRegistry | undefined = features && builtinDrivers(features);
const executor = new NetlinkExecutor();
const PARENT = 'cfup0';

interface Case {
  readonly title: string;
  readonly request: Partial<CreateNetworkRequest>;
  /** Options the driver must refuse (each with the message expected). */
  readonly bad: readonly (readonly [Record<string, string>, RegExp])[];
  /** Why it cannot run here, if it cannot. */
  readonly skip?: string | false;
}

const lan = [{ subnet: '192.0.2.0/24', gateway: '192.0.2.254', auxAddresses: {} }];
const unsupported = (kind: 'ipvlan' | 'vlan' | 'macvlan') => (features && !features.linkKinds.has(kind) ? `this kernel lacks ${kind} support` : false);

const CASES: readonly Case[] = [
  {
    title: 'bridge',
    request: { driver: 'bridge', options: { 'com.docker.network.bridge.name': 'cfbr0' }, ipam: [{ subnet: '10.123.0.0/24', auxAddresses: {} }] },
    bad: [[{ 'com.docker.network.driver.mtu': '12' }, /invalid com\.docker\.network\.driver\.mtu "12"/], [{ nope: '1' }, /unknown bridge driver option "nope"/]],
  },
  {
    title: 'macvlan, bridge mode on an existing parent',
    request: { driver: 'macvlan', options: { parent: PARENT }, ipam: lan },
    bad: [[{ parent: 'nosuch0' }, /parent link nosuch0 does not exist/], [{ parent: PARENT, macvlan_mode: 'x' }, /invalid macvlan_mode "x"/]],
    skip: unsupported('macvlan'),
  },
  {
    title: 'macvlan with berth.host_access',
    request: { driver: 'macvlan', options: { parent: PARENT, 'berth.host_access': 'true' }, ipam: lan },
    bad: [[{ parent: PARENT, 'berth.host_access': 'true', macvlan_mode: 'vepa' }, /needs macvlan_mode=bridge/]],
    skip: unsupported('macvlan'),
  },
  {
    title: 'macvlan --internal with no parent (berth\'s isolated parent)',
    request: { driver: 'macvlan', internal: true, options: {}, ipam: [{ subnet: '10.124.0.0/24', auxAddresses: {} }] },
    bad: [[{ bogus: 'x' }, /unknown macvlan driver option "bogus"/]],
    skip: unsupported('macvlan'),
  },
  {
    title: 'macvlan on a VLAN parent berth creates',
    request: { driver: 'macvlan', options: { parent: `${PARENT}.42` }, ipam: lan },
    bad: [[{ parent: `${PARENT}.4095` }, /invalid VLAN id 4095/]],
    skip: unsupported('macvlan') || unsupported('vlan'),
  },
  {
    title: 'ipvlan l2',
    request: { driver: 'ipvlan', options: { parent: PARENT }, ipam: lan },
    bad: [[{ parent: PARENT, ipvlan_mode: 'l9' }, /invalid ipvlan_mode "l9"/]],
    skip: unsupported('ipvlan'),
  },
  {
    title: 'ipvlan l3',
    request: { driver: 'ipvlan', options: { parent: PARENT, ipvlan_mode: 'l3' }, ipam: [{ subnet: '10.125.0.0/24', auxAddresses: {} }] },
    bad: [[{ parent: PARENT, ipvlan_flag: 'x' }, /invalid ipvlan_flag "x"/]],
    skip: unsupported('ipvlan'),
  },
];

async function json(args: string[]): Promise<any[]> {
  return JSON.parse((await must('ip', ['-j', ...args])) || '[]') as any[];
}

/**
 * The state a driver is responsible for, as text: the host links carrying the network's
 * alias and the links enslaved to them (kind, state, addresses), and the sandbox's links
 * and default route. Equal fingerprints = the same network as far as packets care.
 */
async function fingerprint(networkId: string, netns: string): Promise<string> {
  const host = await json(['-d', 'addr', 'show']);
  const owned = new Set(host.filter((l) => l.ifalias === ownerAlias(networkId)).map((l) => l.ifname as string));
  const describe = (l: any) => `${l.linkinfo?.info_kind ?? ''} ${(l.flags as string[]).includes('UP') ? 'up' : 'down'} ${(l.addr_info as any[]).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`).join(',')}`;
  const hostPart = host.filter((l) => owned.has(l.ifname) || owned.has(l.master)).map((l) => `host ${owned.has(l.ifname) ? l.ifname : `port of ${l.master}`}: ${describe(l)}`);
  const inside = (await json(['-n', netns, '-d', 'addr', 'show'])).filter((l) => l.ifname !== 'lo').map((l) => `sandbox ${l.ifname}: ${describe(l)} mac ${l.address}`);
  const route = (await must('ip', ['-n', netns, 'route', 'show', 'default'])).trim();
  return [...hostPart.sort(), ...inside.sort(), `route ${route}`].join('\n');
}

/** A process living in the sandbox, so the kernel view can read its links from /proc. */
function holder(netns: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', netns, 'sleep', '120'], { stdio: 'ignore' });
}

describe('driver conformance (every driver, on the real kernel)', { skip: sandboxSkip }, () => {
  before(async () => {
    await must('ip', ['link', 'add', PARENT, 'type', 'veth', 'peer', 'name', 'cflan0']);
    await must('ip', ['link', 'set', PARENT, 'up']);
    await must('ip', ['link', 'set', 'cflan0', 'up']);
  });
  after(async () => {
    await run('ip', ['link', 'del', PARENT]);
  });

  for (const [index, c] of CASES.entries()) {
    test(c.title, { skip: c.skip ?? false }, async (t) => {
      const reg = drivers!;
      const live = await readKernelView();
      const request: CreateNetworkRequest = { name: `cf${index}`, driver: 'bridge', internal: false, attachable: false, labels: {}, options: {}, ipam: [], ...c.request };
      const ctx = { existing: builtinNetworks(), routes: [], nameservers: [], pools: DOCKER_DEFAULT_POOLS, drivers: reg, live };
      const linksBefore = (await json(['link', 'show'])).map((l) => l.ifname as string).sort();

      await t.test('bad options are refused with a specific error, and nothing is created', () => {
        for (const [options, message] of c.bad) {
          assert.throws(() => newNetwork({ ...request, options }, ctx), (e: unknown) => e instanceof BerthError && message.test(e.message), JSON.stringify(options));
        }
      });
      assert.deepEqual((await json(['link', 'show'])).map((l) => l.ifname as string).sort(), linksBefore);

      const record = newNetwork(request, ctx);
      const network: DriverNetwork = driverNetwork(record);
      const driver: NetworkDriver = reg.get(record.driver);
      const netns = `cf-sb-${index}`;
      await must('ip', ['netns', 'add', netns]);
      await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      const proc = holder(netns);
      await sleep(50);
      try {
        await executor.apply(driver.createNetwork(network));
        assert.deepEqual(driver.repair(network, [], await readKernelView()), [], 'a network just created needs no repair');

        const [subnet] = record.ipam.subnets;
        const address = subnet!.ipRange ? '192.0.2.10' : subnet!.subnet.replace(/0\/\d+$/, '10');
        const names = driver.createEndpoint(network, { ifname: 'eth0', address, takenHostNames: new Set() });
        const endpoint: DriverEndpoint = { id: 'ep', ...names, address, prefixLength: Number(subnet!.subnet.split('/')[1]) };
        const joined = driver.join(network, netns, endpoint);
        const gatewayEndpoint = !record.internal;
        await executor.apply(joinPlan(netns, joined, gatewayEndpoint));
        const inside = (await json(['-n', netns, 'addr', 'show', 'eth0']))[0];
        assert.equal(inside.addr_info.find((a: any) => a.family === 'inet')?.local, address, 'joined: the address is inside the sandbox');
        const route = (await must('ip', ['-n', netns, 'route', 'show', 'default'])).trim();
        if (gatewayEndpoint && joined.info.defaultRoute) {
          assert.match(route, joined.info.defaultRoute.via !== undefined ? new RegExp(`via ${joined.info.defaultRoute.via.replaceAll('.', '\\.')}`) : /dev eth0/);
        } else {
          assert.equal(route, '', 'no default gateway');
        }

        const recorded: RecordedEndpoint[] = [{ netns, endpoint, running: true, gatewayEndpoint, carriesPorts: false }];
        const view = () => readKernelView([{ netns, pid: proc.pid! }]);
        const healthy = await fingerprint(record.id, netns);
        assert.deepEqual(driver.repair(network, recorded, await view()), [], 'a healthy network needs no repair');
        const owned = (await json(['-d', 'link', 'show'])).filter((l) => l.ifalias === ownerAlias(record.id)).map((l) => l.ifname as string);

        const drifts: [string, () => Promise<void>][] = [
          ['the endpoint deleted in the sandbox', () => must('ip', ['-n', netns, 'link', 'del', 'eth0']).then(() => undefined)],
          ...owned.map((link): [string, () => Promise<void>] => [`host link ${link} set down`, () => must('ip', ['link', 'set', link, 'down']).then(() => undefined)]),
          ...owned.map((link): [string, () => Promise<void>] => [`host link ${link} stripped of its addresses`, () => must('ip', ['addr', 'flush', 'dev', link]).then(() => undefined)]),
          ...owned.map((link): [string, () => Promise<void>] => [`host link ${link} deleted`, () => must('ip', ['link', 'del', link]).then(() => undefined)]),
        ];
        for (const [what, drift] of drifts) {
          await drift();
          await executor.apply(driver.repair(network, recorded, await view()));
          assert.equal(await fingerprint(record.id, netns), healthy, `repaired after: ${what}`);
          assert.deepEqual(driver.repair(network, recorded, await view()), [], `nothing left to repair after: ${what}`);
        }

        await executor.apply(driver.leave(network, netns, endpoint, { sandboxGoing: false }));
        assert.equal((await json(['-n', netns, 'link', 'show'])).some((l) => l.ifname === 'eth0'), false, 'left: no interface in the sandbox');
        if (endpoint.hostIfname) assert.equal((await json(['link', 'show'])).some((l) => l.ifname === endpoint.hostIfname), false, 'left: no host side');
      } finally {
        proc.kill();
        await executor.apply(driver.deleteNetwork(network, await readKernelView()));
        assert.deepEqual(driver.deleteNetwork(network, await readKernelView()), [], 'deleting twice: the second time there is nothing to do');
        await must('ip', ['netns', 'del', netns]);
      }
      // Links handed to the reaper (deleted in the background) are gone once it has caught up.
      await reapsSettled();
      assert.deepEqual((await json(['link', 'show'])).map((l) => l.ifname as string).sort(), linksBefore, 'nothing of the network is left');
    });
  }
});
