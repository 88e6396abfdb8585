import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { must, OUTSIDE_IP, run, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/** A container's server: TCP on 5000 and 80, UDP on 53, each answering with the peer address it saw. */
const SERVER = [
  "const net=require('net'),dgram=require('dgram');",
  "for (const p of [5000,80]) net.createServer(s=>{s.on('error',()=>{});s.end(`${p} saw ${s.remoteAddress.replace('::ffff:','')}\\n`)}).listen(p);",
  "const u=dgram.createSocket('udp4');u.on('message',(m,r)=>u.send(`udp saw ${r.address}`,r.port,r.address));u.bind(53);",
].join('');

function udpRequest(netnsCmd: readonly string[], address: string, port: number): Promise<string> {
  const script =
    `const s=require('dgram').createSocket('udp4');s.on('message',m=>{console.log(String(m));process.exit(0)});` +
    `s.send('hi',${port},'${address}');setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},2000);`;
  return run(netnsCmd[0]!, [...netnsCmd.slice(1), process.execPath, '-e', script]).then((r) => r.stdout.trim());
}

const BACKENDS = {
  nftables: {
    rules: ['nft', 'list', 'table', 'ip', 'berth'],
    wipe: ['nft', 'delete', 'table', 'ip', 'berth'],
  },
  iptables: {
    rules: ['iptables-save'],
    wipe: ['iptables', '-t', 'nat', '-F', 'BERTH'],
  },
} as const;

for (const [backend, commands] of Object.entries(BACKENDS)) describe(`published ports, firewall backend ${backend}`, { skip: sandboxSkip }, () => {
  let w: World;
  let host: string[];
  let outside: string[];
  let emptyRuleset: string;
  // The rules as listed, without comments and packet counters (they change with traffic).
  const ruleset = async () => (await w.inHost(...commands.rules)).stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '');

  before(async () => {
    w = await World.create({ daemonArgs: ['--firewall', backend] });
    host = ['ip', 'netns', 'exec', w.host];
    outside = ['ip', 'netns', 'exec', w.outside];
    emptyRuleset = await ruleset();
    // Another tool's rules, in both nftables and iptables: berth must leave them alone.
    await must('ip', ['netns', 'exec', w.host, 'nft', 'add table ip foreign; add chain ip foreign extra { type filter hook forward priority 10; }; add rule ip foreign extra ip saddr 192.0.2.99 counter accept']);
    await must('ip', ['netns', 'exec', w.host, 'iptables', '-A', 'FORWARD', '-s', '192.0.2.98/32', '-j', 'ACCEPT']);
    await must('ip', ['netns', 'exec', w.host, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.97/32', '-j', 'RETURN']);
    await w.berthOk('run', '-d', '--name', 'web', '-p', '1180:5000', '-p', '127.0.0.1:8080:80', '-p', '5353:53/udp', '--', process.execPath, '-e', SERVER);
    await w.berthOk('run', '-d', '--name', 'client', '--', 'sleep', '1000');
    // Wait for the server to listen (a connection to the container address answers).
    for (let i = 0; i < 50 && !(await tcpRequest(host, '172.17.0.2', 5000, 500)).startsWith('5000'); i++);
  });
  after(() => checkLeaksThenDispose(w));

  test('an outside host reaches host:1180, and the container sees its real address (no SNAT)', async () => {
    assert.equal(await tcpRequest(outside, UPLINK_IP, 1180), `5000 saw ${OUTSIDE_IP}`);
  });

  test('the host reaches it through 127.0.0.1 and through its own uplink address', async () => {
    assert.match(await tcpRequest(host, '127.0.0.1', 1180), /^5000 saw /);
    assert.match(await tcpRequest(host, UPLINK_IP, 1180), /^5000 saw /);
  });

  test('containers reach it through the host address (hairpin), the publishing container too', async () => {
    const viaHost = async (name: string) =>
      (await w.berthOk('exec', name, process.execPath, '-e',
        `const s=require('net').connect(1180,'${UPLINK_IP}');s.setEncoding('utf8');s.on('data',d=>process.stdout.write(d));s.on('end',()=>process.exit(0));s.on('error',e=>console.log(e.code));setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},2000)`)).trim();
    assert.match(await viaHost('client'), /^5000 saw 172\.17\.0\.1$/);
    assert.match(await viaHost('web'), /^5000 saw 172\.17\.0\.1$/);
  });

  test('a port bound to 127.0.0.1 answers on 127.0.0.1 only, not from outside', async () => {
    assert.match(await tcpRequest(host, '127.0.0.1', 8080), /^80 saw /);
    assert.notEqual(await tcpRequest(outside, UPLINK_IP, 8080, 1000), '80 saw 198.51.100.254');
    assert.match(await tcpRequest(outside, UPLINK_IP, 8080, 1000), /^(REFUSED|TIMEOUT)$/);
  });

  test('UDP is published as well as TCP', async () => {
    assert.equal(await udpRequest(outside, UPLINK_IP, 5353), `udp saw ${OUTSIDE_IP}`);
  });

  test('berth port, inspect and ps show the bindings in Docker\'s shapes', async () => {
    assert.deepEqual((await w.berthOk('port', 'web')).trim().split('\n').sort(), ['5000/tcp -> 0.0.0.0:1180', '53/udp -> 0.0.0.0:5353', '80/tcp -> 127.0.0.1:8080']);
    assert.equal((await w.berthOk('port', 'web', '5000')).trim(), '0.0.0.0:1180');
    const [c] = JSON.parse(await w.berthOk('inspect', 'web')) as [any];
    assert.deepEqual(c.NetworkSettings.Ports['5000/tcp'], [{ HostIp: '0.0.0.0', HostPort: '1180' }]);
    assert.deepEqual(c.HostConfig.PortBindings['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: '8080' }]);
    assert.match(await w.berthOk('ps'), /0\.0\.0\.0:1180->5000\/tcp/);
  });

  test('conflicts are rejected and change nothing', async () => {
    const before = await ruleset();
    const taken = await w.berth('run', '-d', '--name', 'dup', '-p', '1180:80', '--', 'sleep', '1000');
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /^Error: cannot publish 0\.0\.0\.0:1180\/tcp: port is already allocated by container web$/m);
    await w.serveTcp(w.host, '0.0.0.0', 7777, "'host process'");
    const inUse = await w.berth('run', '-d', '--name', 'dup', '-p', '7777:80', '--', 'sleep', '1000');
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /cannot publish 0\.0\.0\.0:7777\/tcp: the port is already in use by a process on this host/);
    assert.equal(await ruleset(), before);
    assert.doesNotMatch(await w.berthOk('ps', '-a'), /dup/);
  });

  test('-p with only a container port takes a free ephemeral host port', async () => {
    await w.berthOk('run', '-d', '--name', 'rnd', '-p', '5000', '--', process.execPath, '-e', SERVER);
    const binding = (await w.berthOk('port', 'rnd', '5000/tcp')).trim();
    const [, port] = /^0\.0\.0\.0:(\d+)$/.exec(binding) ?? [];
    const [low, high] = (await must('ip', ['netns', 'exec', w.host, 'cat', '/proc/sys/net/ipv4/ip_local_port_range'])).trim().split(/\s+/).map(Number);
    assert.ok(Number(port) >= low! && Number(port) <= high!, binding);
    let reply = '';
    for (let i = 0; i < 50 && !reply.startsWith('5000'); i++) reply = await tcpRequest(outside, UPLINK_IP, Number(port), 500);
    assert.equal(reply, `5000 saw ${OUTSIDE_IP}`);
    await w.berthOk('rm', '-f', 'rnd');
  });

  test('a 1,000-port range that keeps its numbers: first, middle and last port answer from outside; gone after rm', async () => {
    const RANGE_SERVER = "for (const p of [21000,21500,21999]) require('net').createServer(s=>{s.on('error',()=>{});s.end(`${p} ok`)}).listen(p)";
    await w.berthOk('run', '-d', '--name', 'ranged', '-p', '21000-21999:21000-21999', '--', process.execPath, '-e', RANGE_SERVER);
    for (const port of [21000, 21500, 21999]) {
      let reply = '';
      for (let i = 0; i < 50 && reply !== `${port} ok`; i++) reply = await tcpRequest(outside, UPLINK_IP, port, 500);
      assert.equal(reply, `${port} ok`);
    }
    assert.equal((await w.berthOk('port', 'ranged', '21999/tcp')).trim(), '0.0.0.0:21999');
    await w.berthOk('rm', '-f', 'ranged');
    assert.match(await tcpRequest(outside, UPLINK_IP, 21500, 1000), /^(REFUSED|TIMEOUT)$/);
  });

  test('a daemon restart restores every published port', async () => {
    await w.killDaemon('SIGKILL');
    await w.inHost(...commands.wipe);
    assert.match(await tcpRequest(outside, UPLINK_IP, 1180, 1000), /^(REFUSED|TIMEOUT)$/);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.equal(await tcpRequest(outside, UPLINK_IP, 1180), `5000 saw ${OUTSIDE_IP}`);
    assert.equal(await udpRequest(outside, UPLINK_IP, 5353), `udp saw ${OUTSIDE_IP}`);
  });

  test('-P publishes every --expose\'d port on a random host port', async () => {
    await w.berthOk('run', '-d', '--name', 'pall', '--expose', '5000', '-P', '--', process.execPath, '-e', SERVER);
    const [, port] = /^0\.0\.0\.0:(\d+)$/.exec((await w.berthOk('port', 'pall', '5000')).trim()) ?? [];
    let reply = '';
    for (let i = 0; i < 50 && !reply.startsWith('5000'); i++) reply = await tcpRequest(outside, UPLINK_IP, Number(port), 500);
    assert.equal(reply, `5000 saw ${OUTSIDE_IP}`);
    await w.berthOk('rm', '-f', 'pall');
  });

  test('--dry-run -p shows the firewall change and makes none', async () => {
    const before = await ruleset();
    const plan = await w.berthOk('run', '--dry-run', '-p', '1190:5000', '--', 'sleep', '1');
    assert.match(plan, /link set dev veth[0-9a-f]{7} type bridge_slave hairpin on/);
    assert.match(plan, backend === 'nftables'
      ? /add element ip berth pub_any \{ tcp \. 1190 : 172\.17\.0\.\d+ \. 5000 \}/
      : /-A BERTH -p tcp -m tcp --dport 1190 -j DNAT --to-destination 172\.17\.0\.\d+:5000/);
    assert.equal(await ruleset(), before);
  });

  test('removing the container removes its rules: berth\'s rules equal the ones before; other tools\' rules are untouched', async () => {
    await w.berthOk('rm', '-f', 'web');
    const foreign = /^(table ip foreign|.*ip saddr 192\.0\.2\.99 counter.*|-A FORWARD -s 192\.0\.2\.98\/32 -j ACCEPT|-A POSTROUTING -s 192\.0\.2\.97\/32 -j RETURN)$/;
    const withoutForeign = (text: string) => text.split('\n').filter((l) => !foreign.test(l.trim())).join('\n');
    assert.equal(withoutForeign(await ruleset()), withoutForeign(emptyRuleset));
    assert.match((await w.inHost('nft', 'list', 'table', 'ip', 'foreign')).stdout, /ip saddr 192\.0\.2\.99 counter packets \d+ bytes \d+ accept/);
    assert.match((await w.inHost('iptables', '-S', 'FORWARD')).stdout, /^-A FORWARD -s 192\.0\.2\.98\/32 -j ACCEPT$/m);
    assert.match((await w.inHost('iptables', '-t', 'nat', '-S', 'POSTROUTING')).stdout, /^-A POSTROUTING -s 192\.0\.2\.97\/32 -j RETURN$/m);
  });
});
