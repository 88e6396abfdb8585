import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { must, OUTSIDE_IP, run, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Seed 004's macvlan on the real kernel: containers as hosts of the parent's LAN (the
 * world's outside host is on uplink0's wire), modes, names, berth's host access, errors
 * that change nothing, a daemon killed and restarted, and rm leaving the parent as it was.
 */

const LAN = ['--subnet', '198.51.100.0/24', '--gateway', OUTSIDE_IP, '--ip-range', '198.51.100.64/26'];

async function inspect(w: World, ref: string): Promise<any> {
  return (JSON.parse(await w.berthOk('inspect', ref)) as any[])[0];
}

async function addressOn(w: World, container: string, network: string): Promise<{ ip: string; mac: string }> {
  const ep = (await inspect(w, container)).NetworkSettings.Networks[network];
  return { ip: ep.IPAddress, mac: ep.MacAddress };
}

async function pings(netnsRun: Promise<{ code: number }>): Promise<boolean> {
  return (await netnsRun).code === 0;
}

/** Host links of the world's host namespace, by name. */
async function hostLinks(w: World): Promise<Map<string, any>> {
  const links = JSON.parse((await run('ip', ['-n', w.host, '-j', '-d', 'link', 'show'])).stdout) as any[];
  return new Map(links.map((l) => [l.ifname, l]));
}

/** What berth must never change about the parent: its state, MTU, address. */
async function parentState(w: World): Promise<string> {
  return (await run('ip', ['-n', w.host, '-br', 'addr', 'show', 'uplink0'])).stdout.trim();
}

/** Whether this kernel makes 802.1q links (asked in a throwaway namespace). */
async function kernelHasVlan(): Promise<boolean> {
  const r = await run('unshare', ['--net', 'ip', 'link', 'add', 'link', 'lo', 'name', 'p', 'type', 'vlan', 'id', '2']);
  return !/Unknown device type/.test(r.stderr);
}

describe('macvlan networks (seed 004)', { skip: sandboxSkip }, () => {
  let w: World;
  let parentBefore = '';
  before(async () => {
    w = await World.create();
    parentBefore = await parentState(w);
  });
  after(() => checkLeaksThenDispose(w));

  test('network create --dry-run prints the network\'s and a first endpoint\'s commands and changes nothing', async () => {
    const before = [...(await hostLinks(w)).keys()].sort();
    const plan = await w.berthOk('network', 'create', '--dry-run', '-d', 'macvlan', ...LAN, '-o', 'parent=uplink0', '-o', 'berth.host_access=true', 'lan');
    assert.match(plan, /^ip link add link uplink0 name mh-[0-9a-f]{12} type macvlan mode bridge$/m);
    assert.match(plan, /^ip link add link uplink0 name eth0 netns berth-[0-9a-f]{12} address 02:42:c6:33:64:40 type macvlan mode bridge$/m);
    assert.match(plan, /^ip route replace 198\.51\.100\.64\/32 dev mh-[0-9a-f]{12}$/m);
    assert.match(plan, /^ip -n berth-[0-9a-f]{12} route add default via 198\.51\.100\.254$/m);
    assert.deepEqual([...(await hostLinks(w)).keys()].sort(), before);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /\blan\b/);
  });

  test('a LAN host reaches a macvlan container directly and sees the container\'s own MAC; the container goes out via the gateway', async () => {
    await w.berthOk('network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=uplink0', 'lan');
    const run1 = await w.berth('run', '-d', '--name', 'm1', '--network', 'lan', '-p', '8080:80', '--', 'sleep', '1000');
    assert.equal(run1.code, 0, run1.stderr);
    assert.match(run1.stderr, /^WARNING: Published ports are discarded on the macvlan network lan: it has no port mapping$/m);
    const m1 = await addressOn(w, 'm1', 'lan');
    assert.deepEqual(m1, { ip: '198.51.100.64', mac: '02:42:c6:33:64:40' });
    // Inside: eth0 is a macvlan link (no veth, nothing on the host side), default via the gateway.
    const eth0 = JSON.parse(await w.berthOk('exec', 'm1', 'ip', '-j', '-d', 'link', 'show', 'eth0'))[0];
    assert.equal(eth0.linkinfo.info_kind, 'macvlan');
    assert.equal(eth0.address, '02:42:c6:33:64:40');
    assert.match(await w.berthOk('exec', 'm1', 'ip', 'route'), new RegExp(`^default via ${OUTSIDE_IP.replaceAll('.', '\\.')} dev eth0`, 'm'));
    assert.equal([...(await hostLinks(w)).keys()].some((n) => n.startsWith('veth')), false, 'no veth on the host');
    // The outside host, on the LAN, reaches it directly: no NAT, no route through the host.
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', m1.ip)), true);
    const neigh = (await w.inOutside('ip', '-j', 'neigh', 'show', m1.ip)).stdout;
    assert.equal(JSON.parse(neigh)[0]?.lladdr, '02:42:c6:33:64:40', 'the LAN sees the container\'s own MAC');
    assert.equal(await pings(w.berth('exec', 'm1', 'ping', '-c1', '-W2', OUTSIDE_IP)), true);
    // A TCP server in the container answers the LAN host at the container's own address.
    const netns = (await inspect(w, 'm1')).NetworkSettings.SandboxKey.replace('/run/netns/', '');
    await w.serveTcp(netns, m1.ip, 80, "'hello from m1'");
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], m1.ip, 80), 'hello from m1');
  });

  test('the host cannot reach its own macvlan containers by default (the kernel blocks parent to child), as in Docker', async () => {
    assert.equal(await pings(w.inHost('ping', '-c1', '-W1', '198.51.100.64')), false);
  });

  test('embedded DNS serves macvlan networks: containers find each other by name and alias', async () => {
    await w.berthOk('run', '-d', '--name', 'm2', '--network', 'lan', '--network-alias', 'db', '--', 'sleep', '1000');
    assert.match(await w.berthOk('exec', 'm1', 'cat', '/etc/resolv.conf'), /^nameserver 127\.0\.0\.11$/m);
    assert.match(await w.berthOk('exec', 'm1', 'getent', 'hosts', 'm2'), /^198\.51\.100\.65\s+m2/);
    assert.match(await w.berthOk('exec', 'm1', 'getent', 'hosts', 'db'), /^198\.51\.100\.65\s/);
    assert.equal(await pings(w.berth('exec', 'm1', 'ping', '-c1', '-W2', 'm2')), true, 'bridge mode: siblings talk');
  });

  test('a second network on the same parent is refused, naming the parent and its network; nothing is created', async () => {
    const before = [...(await hostLinks(w)).keys()].sort();
    const r = await w.berth('network', 'create', '-d', 'macvlan', '--subnet', '203.0.113.0/24', '-o', 'parent=uplink0', 'lan2');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: parent link uplink0 is already used by macvlan network lan$/m);
    assert.deepEqual([...(await hostLinks(w)).keys()].sort(), before);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /lan2/);
  });

  test('bad parents, modes and options are clear errors that change nothing', async () => {
    const before = [...(await hostLinks(w)).keys()].sort();
    const cases: [string[], RegExp][] = [
      [['-o', 'parent=eth7'], /^Error: parent link eth7 does not exist on this host$/m],
      [['-o', 'parent=eth7.10'], /^Error: parent link eth7 \(of the VLAN link eth7\.10\) does not exist on this host$/m],
      [['-o', 'parent=uplink0', '-o', 'macvlan_mode=l3'], /^Error: invalid macvlan_mode "l3"\nHint: accepted values: bridge, private, vepa, passthru$/m],
      [['-o', 'parent=uplink0', '-o', 'mode=bridge'], /^Error: unknown macvlan driver option "mode"\nHint: accepted options: parent, macvlan_mode, berth\.host_access, berth\.host_access_address$/m],
      [[], /^Error: the macvlan driver needs a parent link: -o parent=IF$/m],
    ];
    for (const [args, message] of cases) {
      const r = await w.berth('network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', ...args, 'bad');
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.deepEqual([...(await hostLinks(w)).keys()].sort(), before, 'no link was created');
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /\bbad\b/);
  });

  test('parent=IF.VLAN: made and removed by berth where the kernel has 802.1q; elsewhere refused, naming the link and the missing support', async () => {
    const before = [...(await hostLinks(w)).keys()].sort();
    const r = await w.berth('network', 'create', '-d', 'macvlan', '--subnet', '192.0.2.0/24', '-o', 'parent=uplink0.10', 'vlan10');
    if (!(await kernelHasVlan())) {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: cannot create the VLAN link uplink0\.10: this kernel lacks 802\.1q VLAN support \(CONFIG_VLAN_8021Q\)$/m);
      assert.deepEqual([...(await hostLinks(w)).keys()].sort(), before, 'nothing was created');
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    const vlan = (await hostLinks(w)).get('uplink0.10');
    assert.equal(vlan?.linkinfo?.info_kind, 'vlan');
    assert.equal(vlan?.linkinfo?.info_data?.id, 10);
    await w.berthOk('network', 'rm', 'vlan10');
    assert.equal((await hostLinks(w)).has('uplink0.10'), false, 'berth made it, berth removes it');
  });

  test('killed with -9 and restarted, the daemon restores an endpoint deleted while it was down; DNS and the LAN work again', async () => {
    const ns2 = (await inspect(w, 'm2')).NetworkSettings.SandboxKey.replace('/run/netns/', '');
    await w.killDaemon('SIGKILL');
    // With the daemon down, m2's macvlan link is deleted inside its namespace.
    await must('ip', ['-n', ns2, 'link', 'del', 'eth0']);
    await w.startDaemon();
    const eth0 = JSON.parse(await w.berthOk('exec', 'm2', 'ip', '-j', '-d', 'addr', 'show', 'eth0'))[0];
    assert.equal(eth0.linkinfo.info_kind, 'macvlan');
    assert.equal(eth0.addr_info.find((a: any) => a.family === 'inet')?.local, '198.51.100.65');
    assert.match(await w.berthOk('exec', 'm2', 'ip', 'route'), /^default via 198\.51\.100\.254 dev eth0/m);
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '198.51.100.65')), true);
    assert.match(await w.berthOk('exec', 'm2', 'getent', 'hosts', 'm1'), /^198\.51\.100\.64\s+m1/);
  });

  test('rm works when an endpoint was already deleted by hand; network rm then leaves no macvlan link and the parent as it was', async () => {
    const ns1 = (await inspect(w, 'm1')).NetworkSettings.SandboxKey.replace('/run/netns/', '');
    await must('ip', ['-n', ns1, 'link', 'del', 'eth0']);
    await w.berthOk('rm', '-f', 'm1', 'm2');
    // The next container takes the lowest address again, so the same MAC, at once: the
    // removed endpoints gave it up (the kernel frees their namespaces only later).
    await w.berthOk('run', '-d', '--name', 'm3', '--network', 'lan', '--', 'sleep', '1000');
    assert.deepEqual(await addressOn(w, 'm3', 'lan'), { ip: '198.51.100.64', mac: '02:42:c6:33:64:40' });
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '198.51.100.64')), true);
    await w.berthOk('rm', '-f', 'm3');
    await w.berthOk('network', 'rm', 'lan');
    const links = await hostLinks(w);
    assert.deepEqual([...links.keys()].filter((n) => !['lo', 'uplink0', 'berth0'].includes(n)), []);
    assert.equal(await parentState(w), parentBefore);
    assert.equal(await pings(w.inHost('ping', '-c1', '-W2', OUTSIDE_IP)), true, 'the host\'s own LAN still works');
  });

  test('private mode: the LAN reaches every container, the containers do not reach each other', async () => {
    await w.berthOk('network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=uplink0', '-o', 'macvlan_mode=private', 'priv');
    await w.berthOk('run', '-d', '--name', 'p1', '--network', 'priv', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'p2', '--network', 'priv', '--', 'sleep', '1000');
    const eth0 = JSON.parse(await w.berthOk('exec', 'p1', 'ip', '-j', '-d', 'link', 'show', 'eth0'))[0];
    assert.equal(eth0.linkinfo.info_data.mode, 'private');
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '198.51.100.64')), true);
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '198.51.100.65')), true);
    assert.equal(await pings(w.berth('exec', 'p1', 'ping', '-c1', '-W1', '198.51.100.65')), false, 'private mode isolates siblings');
    await w.berthOk('rm', '-f', 'p1', 'p2');
    await w.berthOk('network', 'rm', 'priv');
  });

  test('berth.host_access: the host reaches its macvlan containers through a link of its own; rm takes it away', async () => {
    await w.berthOk('network', 'create', '-d', 'macvlan', ...LAN, '-o', 'parent=uplink0', '-o', 'berth.host_access=true', 'lanh');
    const net = JSON.parse(await w.berthOk('network', 'inspect', 'lanh'))[0];
    assert.deepEqual(net.IPAM.Config[0].AuxiliaryAddresses, { 'berth-host-access': '198.51.100.253' });
    const shim = `mh-${net.Id.slice(0, 12)}`;
    await w.berthOk('run', '-d', '--name', 'h1', '--network', 'lanh', '--', 'sleep', '1000');
    assert.equal(await pings(w.inHost('ping', '-c1', '-W2', '198.51.100.64')), true, 'host -> container');
    assert.equal(await pings(w.berth('exec', 'h1', 'ping', '-c1', '-W2', '198.51.100.253')), true, 'container -> host');
    assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '198.51.100.64')), true, 'the LAN still reaches it');
    assert.match((await w.inHost('ip', 'route', 'show', '198.51.100.64')).stdout, new RegExp(`198\\.51\\.100\\.64 dev ${shim}`));
    // Killed and restarted after someone deleted the host's link: it comes back, with the route.
    await w.killDaemon('SIGKILL');
    await must('ip', ['-n', w.host, 'link', 'del', shim]);
    await w.startDaemon();
    assert.equal(await pings(w.inHost('ping', '-c1', '-W2', '198.51.100.64')), true, 'host -> container after repair');
    await w.berthOk('rm', '-f', 'h1');
    await w.berthOk('network', 'rm', 'lanh');
    assert.equal((await hostLinks(w)).has(shim), false);
    assert.equal(await pings(w.inHost('ping', '-c1', '-W1', '198.51.100.253')), false);
    assert.equal(await parentState(w), parentBefore);
  });

  test('several subnets (--subnet given twice): each container takes its subnet\'s gateway; the LAN reaches both; the gateway routes between them', async () => {
    const second = ['--subnet', '192.0.2.0/24', '--gateway', '192.0.2.254'];
    // Refused for the bridge driver (as Docker), and nothing is made.
    const bridge = await w.berth('network', 'create', '--subnet', '10.77.0.0/24', '--subnet', '10.78.0.0/24', 'two');
    assert.equal(bridge.code, 1);
    assert.match(bridge.stderr, /^Error: the bridge driver takes one IPv4 subnet per network, 2 were given$/m);
    const overlap = await w.berth('network', 'create', '-d', 'macvlan', ...LAN, '--subnet', '198.51.100.128/25', '-o', 'parent=uplink0', 'two');
    assert.equal(overlap.code, 1);
    assert.match(overlap.stderr, /subnets 198\.51\.100\.0\/24 and 198\.51\.100\.128\/25 overlap/);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /\btwo\b/);

    await w.berthOk('network', 'create', '-d', 'macvlan', ...LAN, ...second, '-o', 'parent=uplink0', 'two');
    const net = JSON.parse(await w.berthOk('network', 'inspect', 'two'))[0];
    assert.deepEqual(net.IPAM.Config, [
      { Subnet: '198.51.100.0/24', Gateway: OUTSIDE_IP, IPRange: '198.51.100.64/26' },
      { Subnet: '192.0.2.0/24', Gateway: '192.0.2.254' },
    ]);
    // The LAN's router: the outside host has an address in each subnet and forwards between them.
    await must('ip', ['-n', w.outside, 'addr', 'add', '192.0.2.254/24', 'dev', 'wan0']);
    await must('ip', ['netns', 'exec', w.outside, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    try {
      await w.berthOk('run', '-d', '--name', 's1', '--network', 'two', '--', 'sleep', '1000');
      await w.berthOk('run', '-d', '--name', 's2', '--network', 'two', '--ip', '192.0.2.20', '--', 'sleep', '1000');
      assert.equal((await addressOn(w, 's1', 'two')).ip, '198.51.100.64', 'dynamic addresses come from the first subnet');
      const s2 = (await inspect(w, 's2')).NetworkSettings.Networks.two;
      assert.deepEqual([s2.IPAddress, s2.IPPrefixLen, s2.Gateway], ['192.0.2.20', 24, '192.0.2.254']);
      assert.match(await w.berthOk('exec', 's2', 'ip', 'route'), /^default via 192\.0\.2\.254 dev eth0/m);
      assert.equal(await pings(w.inOutside('ping', '-c1', '-W2', '192.0.2.20')), true, 'the LAN reaches the second subnet');
      assert.equal(await pings(w.berth('exec', 's1', 'ping', '-c1', '-W2', '192.0.2.20')), true, 'across subnets through the gateway');
      assert.equal(await pings(w.berth('exec', 's2', 'ping', '-c1', '-W2', 's1')), true, 'names resolve across subnets');
      const outside = await w.berth('run', '--rm', '--network', 'two', '--ip', '203.0.113.9', '--', 'true');
      assert.equal(outside.code, 1);
      assert.match(outside.stderr, /address 203\.0\.113\.9 is outside network two \(198\.51\.100\.0\/24, 192\.0\.2\.0\/24\)/);
      await w.berthOk('rm', '-f', 's1', 's2');
    } finally {
      await run('ip', ['netns', 'exec', w.outside, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
      await run('ip', ['-n', w.outside, 'addr', 'del', '192.0.2.254/24', 'dev', 'wan0']);
    }
    await w.berthOk('network', 'rm', 'two');
    assert.equal(await parentState(w), parentBefore);
  });

  test('--internal without a parent: containers reach each other and nothing else; the isolated parent is berth\'s and goes with the network', async () => {
    await w.berthOk('network', 'create', '-d', 'macvlan', '--internal', '--subnet', '192.0.2.0/24', 'iso');
    const id = JSON.parse(await w.berthOk('network', 'inspect', 'iso'))[0].Id as string;
    const parent = (await hostLinks(w)).get(`dm-${id.slice(0, 12)}`);
    assert.ok(parent, 'berth made a parent for it');
    assert.ok(['dummy', 'bridge'].includes(parent.linkinfo?.info_kind), parent.linkinfo?.info_kind);
    await w.berthOk('run', '-d', '--name', 'i1', '--network', 'iso', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'i2', '--network', 'iso', '--', 'sleep', '1000');
    assert.equal(await pings(w.berth('exec', 'i1', 'ping', '-c1', '-W2', 'i2')), true);
    assert.doesNotMatch(await w.berthOk('exec', 'i1', 'ip', 'route'), /^default/m, 'no way out');
    assert.equal(await pings(w.berth('exec', 'i1', 'ping', '-c1', '-W1', UPLINK_IP)), false);
    // Deleted while the daemon is down, the parent is made again and the endpoints rejoined.
    await w.killDaemon('SIGKILL');
    await must('ip', ['-n', w.host, 'link', 'del', `dm-${id.slice(0, 12)}`]);
    await w.startDaemon();
    assert.equal(await pings(w.berth('exec', 'i1', 'ping', '-c1', '-W2', 'i2')), true, 'repaired');
    await w.berthOk('rm', '-f', 'i1', 'i2');
    await w.berthOk('network', 'rm', 'iso');
    assert.equal((await hostLinks(w)).has(`dm-${id.slice(0, 12)}`), false);
  });
});
