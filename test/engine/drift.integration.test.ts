import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { must, mustEventually, OUTSIDE_IP, run, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Drift repair while the daemon runs (part 9): what another tool or a person breaks —
 * `nft flush ruleset`, a deleted bridge, a deleted or downed veth — is put back by the
 * daemon by itself (every --repair-interval, 1 s here), and nothing berth does not own is
 * touched. The repair time is measured in bench/drift.ts; here it only has to happen.
 */
const SERVER = "require('net').createServer((s) => { s.on('error', () => {}); s.end('pong\\n'); }).listen(5000);";
const REPAIRED_WITHIN_MS = 5000;

async function hostVeth(w: World, container: string): Promise<string> {
  return (await w.berthOk('inspect', '-f', '{{.NetworkSettings.Networks.bridge.BerthHostInterface}}', container)).trim();
}

async function pidOf(w: World, container: string): Promise<string> {
  return (await w.berthOk('inspect', '-f', '{{.State.Pid}}', container)).trim();
}

describe('drift repair while the daemon runs', { skip: sandboxSkip }, () => {
  let w: World;
  const reachable = async () => (await w.berth('exec', 'client', 'ping', '-c', '1', '-W', '1', OUTSIDE_IP)).code === 0;
  const published = async () => (await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 1180, 1000).catch(() => '')).trim() === 'pong';
  before(async () => {
    w = await World.create({ repairIntervalMs: 1000 });
    await w.berthOk('run', '-d', '--name', 'server', '-p', '1180:5000', '--', process.execPath, '-e', SERVER);
    await w.berthOk('run', '-d', '--name', 'client', '--', 'sleep', '600');
    await mustEventually('the published port answers', published);
  });
  after(() => checkLeaksThenDispose(w));

  test('nft flush ruleset: berth\'s table, NAT and the published port come back; another tool\'s table is not re-created', async () => {
    await must('ip', ['netns', 'exec', w.host, 'nft', 'add', 'table', 'ip', 'othertool']);
    await must('ip', ['netns', 'exec', w.host, 'nft', 'flush', 'ruleset']);
    await mustEventually('the published port answers again', published, REPAIRED_WITHIN_MS);
    assert.ok(await reachable(), 'the container reaches the outside through NAT again');
    const tables = (await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'tables'])).stdout;
    assert.match(tables, /table ip berth/);
    assert.doesNotMatch(tables, /othertool/);
  });

  test('ip link del berth0: the bridge, its address and the running containers\' veths come back', async () => {
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    await mustEventually('the container reaches the outside again', reachable, REPAIRED_WITHIN_MS);
    await mustEventually('the published port answers again', published, REPAIRED_WITHIN_MS);
  });

  test('a container\'s veth deleted, then another set down: both are put back, and a bridge of someone else\'s stays as it is', async () => {
    await must('ip', ['-n', w.host, 'link', 'add', 'userbr0', 'type', 'bridge']);
    await must('ip', ['-n', w.host, 'link', 'del', await hostVeth(w, 'client')]);
    await mustEventually('the container reaches the outside again', reachable, REPAIRED_WITHIN_MS);
    await must('ip', ['-n', w.host, 'link', 'set', await hostVeth(w, 'client'), 'down']);
    await mustEventually('the veth is up and carries traffic again', reachable, REPAIRED_WITHIN_MS);
    const userBridge = (await run('ip', ['-n', w.host, '-br', 'link', 'show', 'userbr0'])).stdout;
    assert.match(userBridge, /^userbr0\s+DOWN/);
    await must('ip', ['-n', w.host, 'link', 'del', 'userbr0']);
  });

  test('inside a container: its default route deleted, its address flushed, its link set down: each is put back', async () => {
    await must('ip', ['netns', 'exec', w.host, 'nsenter', '-t', await pidOf(w, 'client'), '-n', 'ip', 'route', 'del', 'default']);
    await mustEventually('the default route is back', reachable, REPAIRED_WITHIN_MS);
    // Flushing the address takes the routes through it with it.
    await must('ip', ['netns', 'exec', w.host, 'nsenter', '-t', await pidOf(w, 'client'), '-n', 'ip', 'addr', 'flush', 'dev', 'eth0']);
    await mustEventually('the address and the default route are back', reachable, REPAIRED_WITHIN_MS);
    await must('ip', ['netns', 'exec', w.host, 'nsenter', '-t', await pidOf(w, 'client'), '-n', 'ip', 'link', 'set', 'eth0', 'down']);
    await mustEventually('eth0 is up and routed again', reachable, REPAIRED_WITHIN_MS);
  });

  test('a running container\'s namespace pin deleted (ip netns del) is pinned again', async () => {
    const netns = (await w.berthOk('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'client')).trim().replace('/run/netns/', '');
    await must('ip', ['netns', 'del', netns]);
    await mustEventually('the pin is back', async () => (await run('ip', ['netns', 'list'])).stdout.includes(netns), REPAIRED_WITHIN_MS);
    assert.ok(await reachable());
  });

  test('the repairs were events, with what was found, and docker info counts them', async () => {
    const info = JSON.parse((await w.api('GET', '/info')).body) as { DriverStatus: [string, string][] };
    const counted = info.DriverStatus.find(([k]) => k === 'Drift repairs')?.[1] ?? '';
    assert.match(counted, /^\d+ \(last \d{4}-\d\d-\d\dT[^)]*: /);
    assert.ok(Number(counted.split(' ')[0]) >= 5, counted);
    const events = JSON.parse(`[${(await w.api('GET', '/events?since=0&until=' + String(Math.ceil(Date.now() / 1000) + 1))).body.trim().split('\n').join(',')}]`) as any[];
    const repairs = events.filter((e) => e.Type === 'daemon' && e.Action === 'repair').map((e) => e.Actor.Attributes.found as string);
    assert.ok(repairs.some((f) => f.includes('the nftables rules')), repairs.join(' | '));
    assert.ok(repairs.some((f) => f.includes('network bridge')), repairs.join(' | '));
  });
});

describe('drift repair with --firewall iptables', { skip: sandboxSkip }, () => {
  let w: World;
  const published = async () => (await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 1180, 1000).catch(() => '')).trim() === 'pong';
  before(async () => {
    w = await World.create({ repairIntervalMs: 1000, daemonArgs: ['--firewall', 'iptables'] });
    await w.berthOk('run', '-d', '--name', 'server', '-p', '1180:5000', '--', process.execPath, '-e', SERVER);
    await mustEventually('the published port answers', published);
  });
  after(() => checkLeaksThenDispose(w));

  test('iptables -F and iptables -t nat -F: berth\'s chains, jumps and the published port come back', async () => {
    await must('ip', ['netns', 'exec', w.host, 'iptables', '-t', 'nat', '-F']);
    await must('ip', ['netns', 'exec', w.host, 'iptables', '-F']);
    await mustEventually('the published port answers again', published, REPAIRED_WITHIN_MS);
    // The port can answer before the repair is whole (FORWARD's policy is ACCEPT after a flush), so the jump is awaited too.
    const forwardJumps = async () => /-j BERTH-FORWARD/.test((await run('ip', ['netns', 'exec', w.host, 'iptables', '-S', 'FORWARD'])).stdout);
    await mustEventually('FORWARD jumps to BERTH-FORWARD again', forwardJumps, REPAIRED_WITHIN_MS);
  });
});

describe('berth system reconcile', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'c1', '--', 'sleep', '600');
  });
  after(() => checkLeaksThenDispose(w));

  test('--dry-run shows what drifted and the commands, changing nothing; without it, repairs', async () => {
    assert.match(await w.berthOk('system', 'reconcile', '--dry-run'), /nothing drifted/);
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    const planned = await w.berthOk('system', 'reconcile', '--dry-run');
    assert.match(planned, /# network bridge \(would be repaired\)/);
    assert.match(planned, /ip link add berth0 .*type bridge/);
    assert.equal((await run('ip', ['-n', w.host, 'link', 'show', 'berth0'])).code, 1, 'the dry run created the bridge');
    const repaired = await w.berthOk('system', 'reconcile');
    assert.match(repaired, /# network bridge \(repaired\)/);
    assert.equal((await w.berth('exec', 'c1', 'ping', '-c', '1', '-W', '1', '172.17.0.1')).code, 0);
    assert.match(await w.berthOk('system', 'reconcile', '--dry-run'), /nothing drifted/);
  });
});
