import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTSIDE_IP, run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * ipvlan on the real kernel. Where the kernel has no ipvlan module (this project's CI
 * machine), `network create -d ipvlan` must fail saying so and create nothing; the
 * traffic tests run wherever the kernel has it and are skipped, with that reason, elsewhere.
 */

const probe = await run('unshare', ['--net', 'ip', 'link', 'add', 'link', 'lo', 'name', 'p', 'type', 'ipvlan', 'mode', 'l2']);
const hasIpvlan = !/Unknown device type/.test(probe.stderr);
const noIpvlan = hasIpvlan ? false : 'this kernel lacks ipvlan support (CONFIG_IPVLAN): the traffic tests need it';

async function hostLinkNames(w: World): Promise<string[]> {
  return (JSON.parse((await run('ip', ['-n', w.host, '-j', 'link', 'show'])).stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

describe('ipvlan networks', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => checkLeaksThenDispose(w));

  test('on a kernel without ipvlan, create fails naming the missing support and changes nothing', { skip: hasIpvlan ? 'this kernel has ipvlan' : false }, async () => {
    const before = await hostLinkNames(w);
    const r = await w.berth('network', 'create', '-d', 'ipvlan', '--subnet', '203.0.113.0/24', '-o', 'parent=uplink0', 'ipv');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: cannot create a network of driver ipvlan: this kernel lacks ipvlan support \(CONFIG_IPVLAN\)$/m);
    assert.deepEqual(await hostLinkNames(w), before);
    assert.doesNotMatch(await w.berthOk('network', 'ls'), /\bipv\b/);
    // The driver is complete all the same: --dry-run renders its plans, saying they cannot be applied here.
    const plan = await w.berth('network', 'create', '--dry-run', '-d', 'ipvlan', '--subnet', '203.0.113.0/24', '-o', 'parent=uplink0', '-o', 'ipvlan_mode=l3', 'ipv');
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stderr, /^WARNING: this kernel lacks ipvlan support \(CONFIG_IPVLAN\): this plan cannot be applied on this host$/m);
    assert.match(plan.stdout, /^ip link add link uplink0 name eth0 netns berth-[0-9a-f]{12} type ipvlan mode l3 bridge$/m);
    assert.match(plan.stdout, /^ip -n berth-[0-9a-f]{12} addr add 203\.0\.113\.1\/24 dev eth0$/m);
    assert.match(plan.stdout, /^ip -n berth-[0-9a-f]{12} route add default dev eth0$/m);
    assert.deepEqual(await hostLinkNames(w), before, 'planning changed nothing');
  });

  test('l2: the LAN reaches the container at its own address; it shares the parent\'s MAC', { skip: noIpvlan }, async () => {
    await w.berthOk('network', 'create', '-d', 'ipvlan', '--subnet', '198.51.100.0/24', '--gateway', OUTSIDE_IP, '--ip-range', '198.51.100.64/26', '-o', 'parent=uplink0', 'ipv2');
    await w.berthOk('run', '-d', '--name', 'v1', '--network', 'ipv2', '--', 'sleep', '1000');
    const eth0 = JSON.parse(await w.berthOk('exec', 'v1', 'ip', '-j', '-d', 'link', 'show', 'eth0'))[0];
    assert.equal(eth0.linkinfo.info_kind, 'ipvlan');
    const parent = JSON.parse((await run('ip', ['-n', w.host, '-j', 'link', 'show', 'uplink0'])).stdout)[0];
    assert.equal(eth0.address, parent.address);
    assert.equal((await w.inOutside('ping', '-c1', '-W2', '198.51.100.64')).code, 0);
    assert.equal((await w.berth('exec', 'v1', 'ping', '-c1', '-W2', OUTSIDE_IP)).code, 0);
    await w.berthOk('rm', '-f', 'v1');
    await w.berthOk('network', 'rm', 'ipv2');
  });

  test('l3: no gateway, the default route is the device, and the LAN reaches the container through the host\'s address', { skip: noIpvlan }, async () => {
    await w.berthOk('network', 'create', '-d', 'ipvlan', '--subnet', '203.0.113.0/24', '-o', 'parent=uplink0', '-o', 'ipvlan_mode=l3', 'ipv3');
    const net = JSON.parse(await w.berthOk('network', 'inspect', 'ipv3'))[0];
    assert.equal(net.IPAM.Config[0].Gateway, undefined);
    await w.berthOk('run', '-d', '--name', 'v3', '--network', 'ipv3', '--', 'sleep', '1000');
    assert.match(await w.berthOk('exec', 'v3', 'ip', 'route'), /^default dev eth0/m);
    // The LAN routes the network's subnet to the host (what an l3 ipvlan network asks of its LAN).
    await run('ip', ['-n', w.outside, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.1']);
    assert.equal((await w.inOutside('ping', '-c1', '-W2', '203.0.113.1')).code, 0);
    await w.berthOk('rm', '-f', 'v3');
    await w.berthOk('network', 'rm', 'ipv3');
  });

  test('l3 with several subnets: containers on different subnets of one network reach each other (the parent routes between its ipvlan links)', { skip: noIpvlan }, async () => {
    await w.berthOk('network', 'create', '-d', 'ipvlan', '--subnet', '203.0.113.0/24', '--subnet', '192.0.2.0/24', '-o', 'parent=uplink0', '-o', 'ipvlan_mode=l3', 'ipv4');
    await w.berthOk('run', '-d', '--name', 'v4', '--network', 'ipv4', '--ip', '203.0.113.10', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'v5', '--network', 'ipv4', '--ip', '192.0.2.10', '--', 'sleep', '1000');
    assert.match(await w.berthOk('exec', 'v5', 'ip', 'addr', 'show', 'eth0'), /inet 192\.0\.2\.10\/24/);
    assert.equal((await w.berth('exec', 'v4', 'ping', '-c1', '-W2', '192.0.2.10')).code, 0);
    assert.equal((await w.berth('exec', 'v5', 'ping', '-c1', '-W2', '203.0.113.10')).code, 0);
    assert.equal((await w.berth('exec', 'v5', 'ping', '-c1', '-W2', 'v4')).code, 0, 'by name too');
    await w.berthOk('rm', '-f', 'v4', 'v5');
    await w.berthOk('network', 'rm', 'ipv4');
  });
});
