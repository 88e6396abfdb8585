import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { must, OUTSIDE_IP, run, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/** A server in a container that answers "pong" on port 80. */
const PONG = "require('net').createServer(s=>{s.on('error',()=>{});s.end('pong')}).listen(80)";

/**
 * Makes `netns` send packets for 127.0.0.1 out of `dev` to `via`, as a hostile LAN
 * neighbour (or a root process in a container) can: a policy rule ahead of the local
 * table and route_localnet on the way out.
 */
async function routeLoopbackTo(netns: string, dev: string, via: string): Promise<void> {
  await must('ip', ['netns', 'exec', netns, 'sysctl', '-qw', `net.ipv4.conf.${dev}.route_localnet=1`]);
  await must('ip', ['-n', netns, 'rule', 'add', 'pref', '0', 'to', '127.0.0.1', 'lookup', '100']);
  await must('ip', ['-n', netns, 'rule', 'add', 'pref', '1', 'lookup', 'local']);
  await must('ip', ['-n', netns, 'rule', 'del', 'pref', '0', 'lookup', 'local']);
  await must('ip', ['-n', netns, 'route', 'add', '127.0.0.1/32', 'via', via, 'dev', dev, 'table', '100']);
}

/** Counts TCP SYNs to `port` arriving in `netns` (a listener's view, handshake or not). */
async function countSyns(netns: string, port: number): Promise<() => Promise<number>> {
  await must('ip', ['netns', 'exec', netns, 'nft', `add table ip syncount; add chain ip syncount in { type filter hook prerouting priority -400; }; add rule ip syncount in tcp dport ${port} tcp flags syn counter`]);
  return async () => {
    const listing = await must('ip', ['netns', 'exec', netns, 'nft', 'list', 'table', 'ip', 'syncount']);
    return Number(/counter packets (\d+)/.exec(listing)![1]);
  };
}

for (const firewall of ['nftables', 'iptables']) {
  describe(`loopback is the host's own (firewall ${firewall})`, { skip: sandboxSkip }, () => {
    let w: World;
    let webNetns = '';
    before(async () => {
      w = await World.create({ daemonArgs: ['--firewall', firewall] });
      await w.berthOk('run', '-d', '--name', 'web', '-p', '127.0.0.1:8080:80', '-p', '8090:80', '--', process.execPath, '-e', PONG);
      webNetns = ((JSON.parse(await w.berthOk('inspect', 'web')) as any[])[0].NetworkSettings.SandboxKey as string).replace('/run/netns/', '');
      for (let i = 0; i < 100 && (await tcpRequest(['ip', 'netns', 'exec', webNetns], '127.0.0.1', 80, 500)) !== 'pong'; i++);
    });
    after(() => checkLeaksThenDispose(w));

    test('a port published on 127.0.0.1 answers the host, and not a neighbour that routes 127.0.0.1 to the host', async () => {
      assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.host], '127.0.0.1', 8080), 'pong');
      const syns = await countSyns(webNetns, 80);
      await routeLoopbackTo(w.outside, 'wan0', UPLINK_IP);
      assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], '127.0.0.1', 8080, 1500), 'TIMEOUT');
      assert.equal(await syns(), 0, 'the container saw a SYN from the neighbour');
      // Control: the port published on every address still answers the neighbour.
      assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 8090), 'pong');
    });

    test('a container cannot reach the host\'s 127.0.0.1-only services through its gateway', async () => {
      const hostOnly = await w.serveTcp(w.host, '127.0.0.1', 9099, "'host secret'");
      assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.host], '127.0.0.1', 9099), 'host secret');
      await w.berthOk('run', '-d', '--name', 'prober', '--', 'sleep', '1000');
      const prober = ((JSON.parse(await w.berthOk('inspect', 'prober')) as any[])[0].NetworkSettings.SandboxKey as string).replace('/run/netns/', '');
      await routeLoopbackTo(prober, 'eth0', '172.17.0.1');
      assert.equal(await tcpRequest(['ip', 'netns', 'exec', prober], '127.0.0.1', 9099, 1500), 'TIMEOUT');
      hostOnly.kill();
    });

    test('-p on an address that is not the host\'s says so', async () => {
      const r = await w.berth('run', '-d', '--name', 'elsewhere', '-p', '203.0.113.9:8080:80', '--', 'sleep', '1000');
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot publish 203\.0\.113\.9:8080\/tcp: 203\.0\.113\.9 is not an address of this host/);
      assert.doesNotMatch(await w.berthOk('ps', '-a'), /elsewhere/);
    });
  });
}

describe('switching --firewall removes the other backend\'s rules', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonArgs: ['--firewall', 'iptables'] });
    await w.berthOk('run', '-d', '--name', 'pub', '-p', '8083:80', '--', process.execPath, '-e', PONG);
  });
  after(() => checkLeaksThenDispose(w));

  const berthChains = async (): Promise<string[]> => [...((await w.inHost('iptables-save')).stdout.match(/^:BERTH\S*/gm) ?? [])].sort();
  const berthTable = async () => (await w.inHost('nft', 'list', 'tables')).stdout.includes('table ip berth');

  test('iptables -> nftables: only BERTH-USER (the user\'s chain) stays; the published port answers through nftables', async () => {
    assert.ok((await berthChains()).includes(':BERTH'));
    await w.killDaemon('SIGTERM');
    assert.equal(await w.startDaemon(['--firewall', 'nftables']), undefined);
    assert.deepEqual(await berthChains(), [':BERTH-USER']);
    assert.equal((await w.inHost('iptables-save')).stdout.includes('-j BERTH-FORWARD'), false);
    assert.equal(await berthTable(), true);
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 8083), 'pong');
  });

  test('nftables -> iptables: berth\'s nftables table is gone', async () => {
    await w.killDaemon('SIGTERM');
    assert.equal(await w.startDaemon(['--firewall', 'iptables']), undefined);
    assert.equal(await berthTable(), false);
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], UPLINK_IP, 8083), 'pong');
  });
});

describe('a VPN\'s routes do not stop a fresh daemon', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => checkLeaksThenDispose(w));

  test('0.0.0.0/1 and 128.0.0.0/1 via a gateway leave 172.17.0.0/16 free; an on-link route still claims its subnet', async () => {
    await w.killDaemon('SIGTERM');
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    for (const half of ['0.0.0.0/1', '128.0.0.0/1']) await must('ip', ['-n', w.host, 'route', 'add', half, 'via', OUTSIDE_IP]);
    await must('ip', ['-n', w.host, 'route', 'add', '172.18.0.0/16', 'dev', 'uplink0']);
    assert.equal(await w.startDaemon([], process.env, ['--data-root', `${w.dir}/fresh`]), undefined);
    assert.equal((await w.berthOk('network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge')).trim(), '[{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1"}]');
    assert.match(await w.berthOk('network', 'create', 'next'), /^[0-9a-f]{64}\n$/);
    assert.equal((await w.berthOk('network', 'inspect', '-f', '{{json .IPAM.Config}}', 'next')).trim(), '[{"Subnet":"172.19.0.0/16","Gateway":"172.19.0.1"}]');
    assert.equal((await run('ip', ['netns', 'exec', w.host, 'true'])).code, 0);
  });
});
