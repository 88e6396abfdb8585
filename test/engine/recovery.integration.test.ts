import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import { listBerthNetns, must, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/** A server in a container that answers "pong" on port 80. */
const PONG = "require('net').createServer(s=>{s.on('error',()=>{});s.end('pong')}).listen(80)";

const hostLinks = async (w: World) => JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show'])) as { ifname: string; master?: string; ifalias?: string }[];

/** The host-side veth of a container's endpoint on `network`. */
async function hostVethOf(w: World, container: string, network: string): Promise<string> {
  const c = await w.inspect(container);
  const mac = c.NetworkSettings.Networks[network].MacAddress as string;
  // The container side carries the MAC; its peer's index names the host side.
  const links = JSON.parse((await w.inHost('ip', 'netns', 'exec', c.NetworkSettings.SandboxKey.replace('/run/netns/', ''), 'ip', '-j', 'link', 'show')).stdout) as { address: string; link_index?: number }[];
  const peerIndex = links.find((l) => l.address === mac)!.link_index!;
  const host = JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
  return host.find((l) => l.ifindex === peerIndex)!.ifname;
}

/** Waits until a container's server answers on its own address. */
async function waitServing(w: World, container: string): Promise<void> {
  const ns = (await w.inspect(container)).NetworkSettings.SandboxKey.replace('/run/netns/', '');
  for (let i = 0; i < 100; i++) {
    if ((await tcpRequest(['ip', 'netns', 'exec', ns], '127.0.0.1', 80, 500)) === 'pong') return;
  }
  throw new Error(`${container} does not serve`);
}

/** From inside the container, through a host address: needs hairpin on its bridge port. */
async function ownPublishedPort(w: World, container: string, port: number): Promise<string> {
  const ns = (await w.inspect(container)).NetworkSettings.SandboxKey.replace('/run/netns/', '');
  return tcpRequest(['ip', 'netns', 'exec', ns], UPLINK_IP, port, 1500);
}

describe('drift and crashes: what reconcile and idempotent deletes repair', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonEntry: [fileURLToPath(new URL('../world/crashing-daemon.js', import.meta.url))] });
  });
  after(() => checkLeaksThenDispose(w));

  test('network rm succeeds when the bridge was deleted by hand, and the network is gone', async () => {
    await w.berthOk('network', 'create', '-o', 'com.docker.network.bridge.name=byhand0', 'byhand');
    await must('ip', ['-n', w.host, 'link', 'del', 'byhand0']);
    assert.equal((await w.berth('network', 'rm', 'byhand')).code, 0);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /byhand/);
  });

  test('a veth deleted by hand comes back on restart with hairpin: the container reaches its own published port', async () => {
    await w.berthOk('run', '-d', '--name', 'hp', '-p', '8081:80', '--', process.execPath, '-e', PONG);
    await waitServing(w, 'hp');
    assert.equal(await ownPublishedPort(w, 'hp', 8081), 'pong');
    await must('ip', ['-n', w.host, 'link', 'del', await hostVethOf(w, 'hp', 'bridge')]);
    await w.killDaemon('SIGKILL');
    await w.startDaemon();
    assert.equal(await ownPublishedPort(w, 'hp', 8081), 'pong');
  });

  test('ip link del berth0: a restart re-creates it and puts the running containers\' veths back on it, hairpin included', async () => {
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    await w.killDaemon('SIGKILL');
    await w.startDaemon();
    const veth = await hostVethOf(w, 'hp', 'bridge');
    assert.equal((await hostLinks(w)).find((l) => l.ifname === veth)?.master, 'berth0');
    assert.equal((await w.berth('exec', 'hp', 'ping', '-c1', '-W2', '172.17.0.1')).code, 0);
    assert.equal(await ownPublishedPort(w, 'hp', 8081), 'pong');
  });

  test('a crash between creating a network\'s bridge and recording it leaks nothing: the restart removes the bridge, the subnet is free again', async () => {
    const died = await w.crashDuring({ BERTH_TEST_CRASH_AT: 'network-created' }, 'network', 'create', '--subnet', '10.77.0.0/24', 'halfnet');
    assert.notEqual(died.code, 0);
    assert.ok((await hostLinks(w)).some((l) => /^br-[0-9a-f]{12}$/.test(l.ifname)), 'the crash left the bridge behind');
    await w.startDaemon();
    assert.deepEqual((await hostLinks(w)).filter((l) => /^br-/.test(l.ifname)), []);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /halfnet/);
    await w.berthOk('network', 'create', '--subnet', '10.77.0.0/24', 'halfnet');
  });

  test('a crash right after the bridge is made, before berth\'s owner alias is on it, leaks nothing either (the intent names it)', async () => {
    // The network create plan's first step makes the bridge, the second gives it the alias.
    const bridges = async () => (await hostLinks(w)).filter((l) => /^br-[0-9a-f]{12}$/.test(l.ifname));
    const before = (await bridges()).map((l) => l.ifname);
    const died = await w.crashDuring({ BERTH_TEST_CRASH_AFTER_OPS: '1' }, 'network', 'create', '--subnet', '10.78.0.0/24', 'barenet');
    assert.notEqual(died.code, 0);
    const bare = (await bridges()).filter((l) => !before.includes(l.ifname));
    assert.equal(bare.length, 1, 'the crash left one bridge behind');
    assert.equal(bare[0]!.ifalias, undefined, 'the bridge has no owner alias yet');
    await w.startDaemon();
    assert.deepEqual((await bridges()).map((l) => l.ifname), before);
    await w.berthOk('network', 'create', '--subnet', '10.78.0.0/24', 'barenet');
  });

  test('a crash between creating a namespace pin\'s file and binding the namespace onto it: the restart removes the bare file (found by the crash campaign)', async () => {
    const created = (await w.berthOk('create', '--', 'sleep', '1000')).trim();
    const pin = `/run/netns/berth-${created.slice(0, 12)}`;
    await w.killDaemon('SIGKILL');
    await writeFile(pin, '');
    await must('touch', ['/run/netns/berth-deadbeef0001']);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.deepEqual((await listBerthNetns()).filter((n) => n === `berth-${created.slice(0, 12)}` || n === 'berth-deadbeef0001'), []);
    await w.berthOk('start', created);
    await w.berthOk('rm', '-f', created);
  });

  test('a bridge another tool made, even one named br-<12 hex>, is never removed', async () => {
    await must('ip', ['-n', w.host, 'link', 'add', 'br-0123456789ab', 'type', 'bridge']);
    await w.killDaemon('SIGKILL');
    await w.startDaemon();
    assert.ok((await hostLinks(w)).some((l) => l.ifname === 'br-0123456789ab'));
    await must('ip', ['-n', w.host, 'link', 'del', 'br-0123456789ab']);
  });
});

describe('network disconnect is one transaction', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonEntry: [fileURLToPath(new URL('../world/faulty-daemon.js', import.meta.url))] });
  });
  after(() => checkLeaksThenDispose(w));

  test('when its last step fails, the ports, the default route and the record are as before', async () => {
    // Attach normally; only veth deletion will fail (BERTH_TEST_FAIL=veth-delete).
    await w.killDaemon('SIGTERM');
    assert.equal(await w.startDaemon([], { ...process.env, BERTH_TEST_FAIL: 'veth-delete' }), undefined);
    await w.berthOk('network', 'create', '--subnet', '10.78.0.0/24', 'second');
    await w.berthOk('run', '-d', '--name', 'multi', '-p', '8082:80', '--', process.execPath, '-e', PONG);
    await w.berthOk('network', 'connect', 'second', 'multi');
    await waitServing(w, 'multi');
    const before = await w.inspect('multi');
    const routesBefore = (await w.berthOk('exec', 'multi', 'ip', 'route')).trim();
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 8082), 'pong');

    const r = await w.berth('network', 'disconnect', 'bridge', 'multi');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing0/);
    const after = await w.inspect('multi');
    assert.deepEqual(Object.keys(after.NetworkSettings.Networks).sort(), ['bridge', 'second']);
    assert.deepEqual(after.NetworkSettings.Ports, before.NetworkSettings.Ports);
    assert.equal((await w.berthOk('exec', 'multi', 'ip', 'route')).trim(), routesBefore);
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 8082), 'pong');
    // Back to a daemon that can delete veths, for the leak check.
    await w.killDaemon('SIGTERM');
    await w.startDaemon();
  });
});
