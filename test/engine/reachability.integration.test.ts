import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxSkip, tcpRequest, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * The isolation matrix: three bridge networks with two containers each, plus one container
 * on two of them. Every container serves TCP on every address; every container connects
 * to every other container's every address. A pair connects exactly when the source has an
 * interface on the network of the destination address; every other pair is dropped
 * (TIMEOUT: not refused, which would mean packets got through).
 */
const NETWORKS = { n1: '10.61.0.0/24', n2: '10.62.0.0/24', n3: '10.63.0.0/24' } as const;
type NetworkName = keyof typeof NETWORKS;
const CONTAINERS: Record<string, NetworkName[]> = {
  a1: ['n1'], a2: ['n1'],
  b1: ['n2'], b2: ['n2'],
  c1: ['n3'], c2: ['n3'],
  m: ['n1', 'n2'],
};
const SERVER = "require('net').createServer(s=>{s.on('error',()=>{});s.end(require('os').hostname())}).listen(7000)";

for (const firewall of ['nftables', 'iptables']) {
describe(`reachability matrix: 3 networks x 2 containers + 1 multi-homed, firewall ${firewall}`, { skip: sandboxSkip }, () => {
  let w: World;
  const addresses: { container: string; network: NetworkName; address: string }[] = [];
  const netns = new Map<string, string>();
  before(async () => {
    w = await World.create({ daemonArgs: ['--firewall', firewall] });
    for (const [name, subnet] of Object.entries(NETWORKS)) await w.berthOk('network', 'create', '--subnet', subnet, name);
    for (const [name, [first, ...more]] of Object.entries(CONTAINERS)) {
      // The server answers with its hostname: -h makes that the container's name.
      await w.berthOk('run', '-d', '--name', name, '-h', name, '--network', first!, '--', process.execPath, '-e', SERVER);
      for (const n of more) await w.berthOk('network', 'connect', n, name);
    }
    for (const name of Object.keys(CONTAINERS)) {
      const c = (JSON.parse(await w.berthOk('inspect', name)) as any[])[0];
      netns.set(name, c.NetworkSettings.SandboxKey.replace('/run/netns/', ''));
      for (const [network, ep] of Object.entries(c.NetworkSettings.Networks) as [NetworkName, { IPAddress: string }][]) {
        addresses.push({ container: name, network, address: ep.IPAddress });
      }
    }
  });
  after(() => checkLeaksThenDispose(w));

  test('every allowed pair connects and every forbidden pair is dropped', async () => {
    assert.equal(addresses.length, 8);
    const pairs = Object.keys(CONTAINERS).flatMap((from) => addresses.filter((to) => to.container !== from).map((to) => ({ from, ...to })));
    const outcomes: string[] = [];
    // In batches: forbidden pairs wait out their timeout, and the machine has 2 cores.
    for (let i = 0; i < pairs.length; i += 8) {
      const batch = pairs.slice(i, i + 8);
      const got = await Promise.all(batch.map((p) => tcpRequest(['ip', 'netns', 'exec', netns.get(p.from)!], p.address, 7000, 1500)));
      batch.forEach((p, j) => {
        const allowed = CONTAINERS[p.from]!.includes(p.network);
        const expected = allowed ? p.container : 'TIMEOUT';
        outcomes.push(`${p.from} -> ${p.container} ${p.address} (${p.network}): ${got[j]!}${got[j] === expected ? '' : ` (expected ${expected})`}`);
      });
    }
    const wrong = outcomes.filter((o) => o.includes('expected'));
    assert.deepEqual(wrong, [], outcomes.join('\n'));
    // Both outcomes occur, so neither half of the check is vacuous.
    assert.ok(outcomes.some((o) => o.endsWith('TIMEOUT')) && outcomes.some((o) => !o.endsWith('TIMEOUT')));
  });
});
}
