import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listBerthNetns, must, mustEventually, OUTSIDE_IP, sandboxSkip, tcpRequest, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Seed 002 (user-defined networks and the network modes), step by step, on the real
 * kernel: what `ip` shows in each namespace, what the API shows, and which packets flow.
 */

interface IpAddr {
  ifname: string;
  address: string;
  mtu: number;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** Interfaces of a container as (name, MAC, IPv4 addresses), from `ip -j addr` inside it. */
async function interfaces(w: World, container: string): Promise<string[]> {
  const links = JSON.parse(await w.berthOk('exec', container, 'ip', '-j', 'addr')) as IpAddr[];
  return links.map((l) => `${l.ifname} ${l.address} ${l.addr_info.filter((i) => i.family === 'inet').map((i) => `${i.local}/${i.prefixlen}`).join(',')}`);
}

async function inspect(w: World, ref: string): Promise<any> {
  return (JSON.parse(await w.berthOk('inspect', ref)) as any[])[0];
}

async function networkInspect(w: World, ref: string): Promise<any> {
  return (JSON.parse(await w.berthOk('network', 'inspect', ref)) as any[])[0];
}

async function pings(w: World, from: string, address: string): Promise<boolean> {
  return (await w.berth('exec', from, 'ping', '-c1', '-W1', address)).code === 0;
}

/** The namespace of a container, for running a test server inside it. */
async function netnsOf(w: World, container: string): Promise<string> {
  return (await inspect(w, container)).NetworkSettings.SandboxKey.replace('/run/netns/', '');
}

async function hostLinkNamesIn(netnsCmd: () => Promise<string>): Promise<string[]> {
  return (JSON.parse(await netnsCmd()) as { ifname: string }[]).map((l) => l.ifname).sort();
}

// Two pools of one /16 each: the default bridge takes 172.17, bridge2 172.18 (as in the
// seed), and a third network without --subnet finds the pools exhausted.
const POOLS = ['--default-address-pool', 'base=172.17.0.0/16,size=16', '--default-address-pool', 'base=172.18.0.0/16,size=16'];

describe('seed 002: user-defined networks, network connect and the modes host, none, container:', { skip: sandboxSkip }, () => {
  let w: World;
  let bridge2Id = '';
  before(async () => {
    w = await World.create({ daemonArgs: POOLS });
  });
  after(() => checkLeaksThenDispose(w));

  test('network create -d bridge bridge2 makes br-<12 hex> with 172.18.0.1/16, listed and inspectable', async () => {
    bridge2Id = (await w.berthOk('network', 'create', '-d', 'bridge', 'bridge2')).trim();
    assert.match(bridge2Id, /^[0-9a-f]{64}$/);
    const bridge = `br-${bridge2Id.slice(0, 12)}`;
    assert.match(await w.berthOk('network', 'ls'), new RegExp(`^${bridge2Id.slice(0, 12)}\\s+bridge2\\s+bridge\\s+local\\s+172\\.18\\.0\\.0/16\\s+${bridge}$`, 'm'));
    assert.equal(await w.berthOk('network', 'ls', '--filter', 'name=bridge2', '--format', '{{.ID}} {{.Name}} {{.Driver}}'), `${bridge2Id.slice(0, 12)} bridge2 bridge\n`);
    assert.equal(await w.berthOk('network', 'ls', '-q', '-f', 'driver=null'), `${(await networkInspect(w, 'none')).Id.slice(0, 12)}\n`);
    const n = await networkInspect(w, 'bridge2');
    assert.deepEqual(
      { Name: n.Name, Id: n.Id, Scope: n.Scope, Driver: n.Driver, EnableIPv6: n.EnableIPv6, IPAM: n.IPAM, Internal: n.Internal, Containers: n.Containers, Options: n.Options, Labels: n.Labels },
      { Name: 'bridge2', Id: bridge2Id, Scope: 'local', Driver: 'bridge', EnableIPv6: false, IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] }, Internal: false, Containers: {}, Options: {}, Labels: {} },
    );
    const addrs = JSON.parse(await must('ip', ['-n', w.host, '-j', '-4', 'addr', 'show', 'dev', bridge])) as IpAddr[];
    assert.equal(`${addrs[0]!.addr_info[0]!.local}/${addrs[0]!.addr_info[0]!.prefixlen}`, '172.18.0.1/16');
  });

  test('bb on bridge2 gets eth0 172.18.0.2/16 with MAC 02:42:ac:12:00:02, and bridge2 lists it', async () => {
    const id = (await w.berthOk('run', '-d', '--name', 'bb', '--network', 'bridge2', '--', 'sleep', '1000')).trim();
    assert.deepEqual(await interfaces(w, 'bb'), ['lo 00:00:00:00:00:00 127.0.0.1/8', 'eth0 02:42:ac:12:00:02 172.18.0.2/16']);
    assert.match(await w.berthOk('exec', 'bb', 'ip', 'route'), /^default via 172\.18\.0\.1 dev eth0/m);
    const n = await networkInspect(w, 'bridge2');
    assert.deepEqual(Object.keys(n.Containers), [id]);
    assert.deepEqual({ ...n.Containers[id], EndpointID: 'x' }, { Name: 'bb', EndpointID: 'x', MacAddress: '02:42:ac:12:00:02', IPv4Address: '172.18.0.2/16', IPv6Address: '' });
    // The host side hangs off the new bridge.
    const veth = (await inspect(w, 'bb')).NetworkSettings.Networks.bridge2.BerthHostInterface;
    assert.equal((JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show', 'dev', veth])) as { master: string }[])[0]!.master, `br-${bridge2Id.slice(0, 12)}`);
  });

  test('bb1 on the default bridge, then network connect bridge2 bb1: eth0 172.17.0.2 and eth1 172.18.0.3', async () => {
    const id = (await w.berthOk('run', '-d', '--name', 'bb1', '--', 'sleep', '1000')).trim();
    await w.berthOk('network', 'connect', 'bridge2', 'bb1');
    assert.deepEqual(await interfaces(w, 'bb1'), [
      'lo 00:00:00:00:00:00 127.0.0.1/8',
      'eth0 02:42:ac:11:00:02 172.17.0.2/16',
      'eth1 02:42:ac:12:00:03 172.18.0.3/16',
    ]);
    // Still one default route, by the default bridge.
    assert.deepEqual((await w.berthOk('exec', 'bb1', 'ip', 'route', 'show', 'default')).trim(), 'default via 172.17.0.1 dev eth0');
    const networks = (await inspect(w, 'bb1')).NetworkSettings.Networks;
    assert.deepEqual(Object.keys(networks), ['bridge', 'bridge2']);
    const { bridge, bridge2 } = networks;
    assert.deepEqual([bridge.Aliases, bridge.IPAMConfig, bridge.Gateway, bridge.IPAddress], [null, null, '172.17.0.1', '172.17.0.2']);
    assert.deepEqual(
      [bridge2.Aliases, bridge2.IPAMConfig, bridge2.NetworkID, bridge2.Gateway, bridge2.IPAddress, bridge2.IPPrefixLen, bridge2.MacAddress],
      [[id.slice(0, 12)], {}, bridge2Id, '172.18.0.1', '172.18.0.3', 16, '02:42:ac:12:00:03'],
    );
    assert.equal((await networkInspect(w, 'bridge')).Containers[id].IPv4Address, '172.17.0.2/16');
    assert.equal((await networkInspect(w, 'bridge2')).Containers[id].IPv4Address, '172.18.0.3/16');
  });

  test('bb and bb1 reach each other on bridge2; bb cannot reach bb1\'s default-bridge address', async () => {
    assert.equal(await pings(w, 'bb', '172.18.0.3'), true);
    assert.equal(await pings(w, 'bb1', '172.18.0.2'), true);
    assert.equal(await pings(w, 'bb', '172.17.0.2'), false);
    await w.serveTcp(await netnsOf(w, 'bb1'), '0.0.0.0', 7001, "'bb1'");
    const inBb = ['ip', 'netns', 'exec', await netnsOf(w, 'bb')];
    assert.equal(await tcpRequest(inBb, '172.18.0.3', 7001), 'bb1');
    assert.equal(await tcpRequest(inBb, '172.17.0.2', 7001, 1000), 'TIMEOUT');
  });

  test('--network container:bb1 shares bb1\'s interfaces, hostname and localhost', async () => {
    await w.berthOk('run', '-d', '--name', 'bb1-1', '--network', 'container:bb1', '--', 'sleep', '1000');
    assert.deepEqual(await interfaces(w, 'bb1-1'), await interfaces(w, 'bb1'));
    // Docker's hostname rule: bb1's is its id's first 12 hex digits, and bb1-1 shares it.
    const bb1Id = (await inspect(w, 'bb1')).Id as string;
    assert.equal((await w.berthOk('exec', 'bb1', 'hostname')).trim(), bb1Id.slice(0, 12));
    assert.equal((await w.berthOk('exec', 'bb1-1', 'hostname')).trim(), bb1Id.slice(0, 12));
    const settings = (await inspect(w, 'bb1-1')).NetworkSettings;
    assert.deepEqual([settings.Networks, settings.SandboxKey, settings.IPAddress], [{}, '', '']);
    await w.serveTcp(await netnsOf(w, 'bb1'), '127.0.0.1', 7002, "'shared localhost'");
    const viaBb11 = await w.berthOk('exec', 'bb1-1', process.execPath, '-e',
      "const s=require('net').connect(7002,'127.0.0.1');s.setEncoding('utf8');s.on('data',d=>process.stdout.write(d));s.on('error',e=>console.log(e.code))");
    assert.equal(viaBb11.trim(), 'shared localhost');
    // Control: another namespace's localhost has no such listener.
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', await netnsOf(w, 'bb')], '127.0.0.1', 7002), 'REFUSED');
  });

  test('--network none has only lo, and inspect shows the none network without an address', async () => {
    await w.berthOk('run', '-d', '--name', 'bb3', '--network', 'none', '--', 'sleep', '1000');
    assert.deepEqual(await interfaces(w, 'bb3'), ['lo 00:00:00:00:00:00 127.0.0.1/8']);
    const none = (await inspect(w, 'bb3')).NetworkSettings.Networks.none;
    assert.deepEqual([none.NetworkID, none.IPAddress, none.Gateway, none.MacAddress], [(await networkInspect(w, 'none')).Id, '', '', '']);
    assert.match(none.EndpointID, /^[0-9a-f]{64}$/);
  });

  test('--network host sees the host\'s interfaces; -p is discarded with Docker\'s warning', async () => {
    const r = await w.berth('run', '-d', '--name', 'bb4', '--network', 'host', '-p', '8081:8080', '--', 'sleep', '1000');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^WARNING: Published ports are discarded when using host network mode$/m);
    const inContainer = await hostLinkNamesIn(() => w.berthOk('exec', 'bb4', 'ip', '-j', 'link'));
    const onHost = await hostLinkNamesIn(() => must('ip', ['-n', w.host, '-j', 'link']));
    assert.deepEqual(inContainer, onHost);
    assert.ok(onHost.includes('uplink0') && onHost.includes('berth0'));
    const id = (await inspect(w, 'bb4')).Id;
    assert.deepEqual({ ...(await networkInspect(w, 'host')).Containers[id], EndpointID: 'x' }, { Name: 'bb4', EndpointID: 'x', MacAddress: '', IPv4Address: '', IPv6Address: '' });
    assert.equal((await inspect(w, 'bb4')).NetworkSettings.Networks.host.IPAddress, '');
    assert.equal((await w.berthOk('port', 'bb4')).trim(), '');
    assert.doesNotMatch((await w.inHost('nft', 'list', 'map', 'ip', 'berth', 'pub_any')).stdout, /8081/);
  });

  test('network disconnect bridge2 bb1: eth1 goes, bb loses bb1, and 172.18.0.3 is handed out again', async () => {
    await w.berthOk('network', 'disconnect', 'bridge2', 'bb1');
    // exec sees what Docker leaves: the pair is deleted before the command runs, whether or not berth's work has paused.
    assert.deepEqual(await interfaces(w, 'bb1'), ['lo 00:00:00:00:00:00 127.0.0.1/8', 'eth0 02:42:ac:11:00:02 172.17.0.2/16']);
    assert.deepEqual(Object.keys((await inspect(w, 'bb1')).NetworkSettings.Networks), ['bridge']);
    assert.equal(await pings(w, 'bb', '172.18.0.3'), false);
    await w.berthOk('run', '-d', '--name', 'bb5', '--network', 'bridge2', '--', 'sleep', '1000');
    assert.deepEqual((await interfaces(w, 'bb5'))[1], 'eth0 02:42:ac:12:00:03 172.18.0.3/16');
    assert.equal(await pings(w, 'bb', '172.18.0.3'), true);
    await w.berthOk('rm', '-f', 'bb5');
  });

  test('disconnecting the network of the default route hands the route to the next network', async () => {
    await w.berthOk('network', 'connect', 'bridge2', 'bb1');
    await w.berthOk('network', 'disconnect', 'bridge', 'bb1');
    assert.deepEqual((await interfaces(w, 'bb1')).map((i) => i.split(' ')[0]), ['lo', 'eth1']);
    assert.equal((await w.berthOk('exec', 'bb1', 'ip', 'route', 'show', 'default')).trim(), 'default via 172.18.0.1 dev eth1');
    // It still gets out, through bridge2's masquerade.
    await w.serveTcp(w.outside, OUTSIDE_IP, 7000, "'outside'");
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', await netnsOf(w, 'bb1')], OUTSIDE_IP, 7000), 'outside');
  });

  test('IPAM options: --subnet/--gateway/--ip-range, a static --ip and --mac-address, connect --ip --alias', async () => {
    await w.berthOk('network', 'create', '--subnet', '10.10.0.0/24', '--gateway', '10.10.0.254', '--ip-range', '10.10.0.128/25', '--aux-address', 'router=10.10.0.128', 'n3');
    assert.deepEqual((await networkInspect(w, 'n3')).IPAM.Config, [{ Subnet: '10.10.0.0/24', Gateway: '10.10.0.254', IPRange: '10.10.0.128/25', AuxiliaryAddresses: { router: '10.10.0.128' } }]);
    await w.berthOk('run', '-d', '--name', 's1', '--network', 'n3', '--', 'sleep', '1000');
    assert.equal((await interfaces(w, 's1'))[1], 'eth0 02:42:0a:0a:00:81 10.10.0.129/24');
    await w.berthOk('run', '-d', '--name', 's2', '--network', 'n3', '--ip', '10.10.0.9', '--mac-address', '02:42:ac:12:00:99', '--', 'sleep', '1000');
    assert.equal((await interfaces(w, 's2'))[1], 'eth0 02:42:ac:12:00:99 10.10.0.9/24');
    assert.match(await w.berthOk('exec', 's2', 'ip', 'route'), /^default via 10\.10\.0\.254 dev eth0/m);
    assert.deepEqual((await inspect(w, 's2')).NetworkSettings.Networks.n3.IPAMConfig, { IPv4Address: '10.10.0.9' });
    assert.equal(await pings(w, 's1', '10.10.0.9'), true);
    const bb = (await inspect(w, 'bb')).Id;
    await w.berthOk('network', 'connect', '--ip', '10.10.0.50', '--alias', 'db', 'n3', 'bb');
    assert.equal((await interfaces(w, 'bb'))[2], 'eth1 02:42:0a:0a:00:32 10.10.0.50/24');
    assert.deepEqual((await inspect(w, 'bb')).NetworkSettings.Networks.n3.Aliases, ['db', bb.slice(0, 12)]);
    assert.equal(await pings(w, 's2', '10.10.0.50'), true);
  });

  test('berth create, network connect, berth start: the container starts on both networks', async () => {
    const Id = (await w.berthOk('create', '--name', 'late', '--network', 'n3', '--ip', '10.10.0.77', '--', 'sleep', '1000')).trim();
    await w.berthOk('network', 'connect', '--alias', 'later', 'bridge2', 'late');
    const created = await inspect(w, 'late');
    assert.deepEqual([created.State.Status, Object.keys(created.NetworkSettings.Networks), created.NetworkSettings.Networks.bridge2.IPAddress], ['created', ['n3', 'bridge2'], '']);
    await w.berthOk('start', 'late');
    assert.deepEqual((await interfaces(w, 'late')).map((i) => i.split(' ').slice(0, 1).concat(i.split(' ')[2]!).join(' ')), ['lo 127.0.0.1/8', 'eth0 10.10.0.77/24', 'eth1 172.18.0.4/16']);
    assert.deepEqual((await inspect(w, 'late')).NetworkSettings.Networks.bridge2.Aliases, ['later', Id.slice(0, 12)]);
    assert.equal(await pings(w, 'late', '172.18.0.2'), true);
    await w.berthOk('rm', '-f', 'late');
  });

  test('network connect on an exited container: kept for its next start, as Docker does', async () => {
    await w.berthOk('run', '-d', '--name', 'gone', '--network', 'n3', '--', 'sleep', '1000');
    await w.berthOk('stop', '-t', '0', 'gone');
    await w.berthOk('network', 'connect', 'bridge2', 'gone');
    assert.deepEqual(Object.keys((await inspect(w, 'gone')).NetworkSettings.Networks), ['n3', 'bridge2']);
    await w.berthOk('start', 'gone');
    assert.deepEqual((await interfaces(w, 'gone')).map((i) => i.split(' ')[0]), ['lo', 'eth0', 'eth1']);
    await w.berthOk('rm', '-f', 'gone');
  });

  test('driver options: -o com.docker.network.bridge.name and com.docker.network.driver.mtu; --label and --attachable are kept', async () => {
    await w.berthOk('network', 'create', '--subnet', '10.30.0.0/24', '-o', 'com.docker.network.bridge.name=br-custom', '-o', 'com.docker.network.driver.mtu=1400', '--label', 'team=net', '--attachable', 'custom');
    await w.berthOk('run', '-d', '--name', 'm1', '--network', 'custom', '--', 'sleep', '1000');
    const bridge = JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show', 'dev', 'br-custom'])) as IpAddr[];
    assert.equal(bridge[0]!.mtu, 1400);
    const eth0 = (JSON.parse(await w.berthOk('exec', 'm1', 'ip', '-j', 'link', 'show', 'eth0')) as IpAddr[])[0]!;
    assert.equal(eth0.mtu, 1400);
    const n = await networkInspect(w, 'custom');
    assert.deepEqual([n.Options, n.Labels, n.Attachable], [{ 'com.docker.network.bridge.name': 'br-custom', 'com.docker.network.driver.mtu': '1400' }, { team: 'net' }, true]);
  });

  test('--internal: its containers talk to each other, but nothing gets out and no port is published', async () => {
    await w.berthOk('network', 'create', '--internal', '--subnet', '10.40.0.0/24', 'backend');
    assert.equal((await networkInspect(w, 'backend')).Internal, true);
    await w.berthOk('run', '-d', '--name', 'i1', '--network', 'backend', '--', 'sleep', '1000');
    const r = await w.berth('run', '-d', '--name', 'i2', '--network', 'backend', '-p', '8090:80', '--', 'sleep', '1000');
    assert.match(r.stderr, /^WARNING: Published ports are discarded on the internal network backend$/m);
    assert.equal(await pings(w, 'i1', '10.40.0.3'), true);
    assert.equal((await w.berthOk('exec', 'i1', 'ip', 'route', 'show', 'default')).trim(), '');
    const inI1 = ['ip', 'netns', 'exec', await netnsOf(w, 'i1')];
    assert.notEqual(await tcpRequest(inI1, OUTSIDE_IP, 7000, 1000), 'outside');
    // Even with a route out, the firewall drops what leaves the internal bridge.
    await must('ip', ['-n', await netnsOf(w, 'i1'), 'route', 'add', 'default', 'via', '10.40.0.1']);
    assert.equal(await tcpRequest(inI1, OUTSIDE_IP, 7000, 1000), 'TIMEOUT');
    // Control: a container with a way out reaches the same server.
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', await netnsOf(w, 's1')], OUTSIDE_IP, 7000), 'outside');
    assert.doesNotMatch((await w.inHost('nft', 'list', 'map', 'ip', 'berth', 'pub_any')).stdout, /8090/);
  });

  test('network rm refuses networks in use (naming the containers) and built-ins; prune takes only unused ones', async () => {
    const inUse = await w.berth('network', 'rm', 'n3');
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /^Error: network n3 has active endpoints: bb, s1, s2$/m);
    for (const builtin of ['bridge', 'host', 'none']) {
      const r = await w.berth('network', 'rm', builtin);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^Error: ${builtin} is a pre-defined network and cannot be removed$`, 'm'));
    }
    await w.berthOk('network', 'create', '--subnet', '10.50.0.0/24', '-o', 'com.docker.network.bridge.name=br-spare', 'spare');
    assert.equal((await w.berthOk('network', 'prune', '-f')).trim(), 'Deleted Networks:\nspare');
    assert.equal((await w.inHost('ip', 'link', 'show', 'br-spare')).code, 1);
    await w.berthOk('rm', '-f', 'i1', 'i2');
    await w.berthOk('network', 'rm', 'backend');
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /backend/);
    assert.doesNotMatch((await w.inHost('nft', 'list', 'table', 'ip', 'berth')).stdout, /10\.40\.0\.0/);
  });

  test('state survives a daemon restart: networks, multi-homed endpoints and their reachability', async () => {
    await w.killDaemon('SIGKILL');
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.deepEqual(Object.keys((await inspect(w, 'bb')).NetworkSettings.Networks), ['bridge2', 'n3']);
    assert.equal(await pings(w, 's2', '10.10.0.50'), true);
    assert.equal(await pings(w, 'bb', '172.18.0.3'), true);
    // Own namespaces: bb, bb1, bb3 (none), s1, s2, m1; bb4 (host) and bb1-1 (container:) have none.
    assert.equal((await listBerthNetns()).length, 6);
  });
  test('disconnect and network rm do not wait for the kernel\'s deletions: the interface is gone from the container at once, a reconnect right after gets its name back, and the links go soon after', async () => {
    await w.berthOk('network', 'create', '--subnet', '10.44.0.0/24', 'quick');
    await w.berthOk('run', '-d', '--name', 'q1', '--network', 'bridge', '--', 'sleep', '600');
    const bridge = `br-${(await w.berthOk('network', 'inspect', '-f', '{{.Id}}', 'quick')).trim().slice(0, 12)}`;
    const linksOfQ1 = async () => (await w.berthOk('exec', 'q1', 'ip', '-br', 'link')).split('\n').map((l) => l.split(/[@ ]/)[0]).filter(Boolean);
    const api = async (what: 'connect' | 'disconnect') => {
      const r = await w.api('POST', `/networks/quick/${what}`, { Container: 'q1' });
      assert.ok(r.status < 300, `${what}: ${r.status} ${r.body}`);
    };
    await api('connect');
    assert.ok((await linksOfQ1()).includes('eth1'));
    // Four bridges handed to the background deleter first (30-40 ms each), so the pair
    // below is certainly still on its way out when the reconnect comes, back to back.
    const ballast = ['b1', 'b2', 'b3', 'b4'];
    for (const [i, name] of ballast.entries()) await w.berthOk('network', 'create', '--subnet', `10.45.${i}.0/24`, name);
    for (const name of ballast) assert.ok((await w.api('DELETE', `/networks/${name}`)).status < 300);
    await api('disconnect');
    await api('connect');
    assert.match(await w.berthOk('exec', 'q1', 'ip', '-br', 'addr', 'show', 'eth1'), /^eth1@\S+\s+UP\s+10\.44\.0\.\d+\/24/);
    await api('disconnect');
    assert.ok(!(await linksOfQ1()).includes('eth1'), 'eth1 is gone from the container once disconnect returns');
    // What the namespace holds until the pair is deleted (an exec would wait for that): the old end, renamed, down, without an address.
    const leftovers = (JSON.parse(await must('ip', ['netns', 'exec', await netnsOf(w, 'q1'), 'ip', '-j', 'addr'])) as IpAddr[]).filter((l) => l.ifname !== 'lo' && l.ifname !== 'eth0');
    for (const l of leftovers) {
      assert.match(l.ifname, /^gone[0-9a-f]{7}$/);
      assert.deepEqual(l.addr_info.filter((i) => i.family === 'inet'), [], `${l.ifname} has no address`);
      assert.ok(!l.flags.includes('UP'), `${l.ifname} is down`);
    }
    await mustEventually('the container lists eth0 and lo only', async () => (await linksOfQ1()).length === 2, 3000);
    await w.berthOk('rm', '-f', 'q1');
    await w.berthOk('network', 'rm', 'quick');
    await mustEventually('the bridge and every pair of it are gone', async () => !(await w.inHost('ip', '-br', 'link')).stdout.includes(bridge), 2000);
  });
});
