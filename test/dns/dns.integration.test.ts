import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { OUTSIDE_IP, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Service discovery on the real kernel (seed 002 and issue 5): the embedded resolver on
 * 127.0.0.11 inside containers on user-defined networks, forwarding to a fake upstream on
 * the outside host, `--link`, `--add-host` and the resolver options in the container files.
 */
const DNS_QUERY = fileURLToPath(new URL('../world/dns-query.js', import.meta.url));

interface Reply {
  rcode: string;
  answers: string[];
}

async function ask(w: World, container: string, name: string, type = 'A', opts: { server?: string; transport?: string } = {}): Promise<Reply> {
  const out = await w.berthOk('exec', container, process.execPath, DNS_QUERY, opts.server ?? '127.0.0.11', name, type, opts.transport ?? 'udp', '4500');
  return JSON.parse(out) as Reply;
}

/** getent goes through the container's own /etc/hosts and /etc/resolv.conf (glibc NSS). */
async function getent(w: World, container: string, name: string): Promise<string | undefined> {
  const r = await w.berth('exec', container, 'getent', 'hosts', name);
  return r.code === 0 ? r.stdout.trim().split(/\s+/)[0] : undefined;
}

async function ipOn(w: World, container: string, network: string): Promise<string> {
  return (await w.berthOk('inspect', '-f', `{{.NetworkSettings.Networks.${network}.IPAddress}}`, container)).trim();
}

describe('embedded DNS on user-defined networks', { skip: sandboxSkip }, () => {
  let w: World;
  let upstream: { queries: () => string[] };
  let dbId = '';
  before(async () => {
    // The daemon's --dns: the fake upstream on the outside host stands in for the host's resolvers.
    w = await World.create({ daemonArgs: ['--dns', OUTSIDE_IP] });
    upstream = await w.startFakeDns();
    await w.berthOk('network', 'create', 'app');
    await w.berthOk('network', 'create', 'other');
    dbId = (await w.berthOk('run', '-d', '--name', 'db', '--network', 'app', '--network-alias', 'database', '--', 'sleep', '1000')).trim();
    await w.berthOk('run', '-d', '--name', 'web', '--network', 'app', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'stranger', '--network', 'other', '--', 'sleep', '1000');
  });
  after(() => checkLeaksThenDispose(w));

  test('resolv.conf points at 127.0.0.11 with ndots:0', async () => {
    assert.equal(await w.berthOk('exec', 'web', 'cat', '/etc/resolv.conf'), 'nameserver 127.0.0.11\noptions ndots:0\n');
  });

  test('web resolves db by name, network alias and id prefix; ping db works', async () => {
    const db = await ipOn(w, 'db', 'app');
    for (const name of ['db', 'database', dbId.slice(0, 12), dbId.slice(0, 20), 'DB', 'db.app']) {
      assert.deepEqual(await ask(w, 'web', name), { rcode: 'NOERROR', answers: [db] }, name);
    }
    assert.equal(await getent(w, 'web', 'db'), db);
    assert.equal(await getent(w, 'web', 'database'), db);
    assert.equal((await w.berth('exec', 'web', 'ping', '-c1', '-W2', 'db')).code, 0);
    // A and AAAA are asked together; the AAAA of a local name is answered at once, empty.
    assert.deepEqual(await ask(w, 'web', 'db', 'AAAA'), { rcode: 'NOERROR', answers: [] });
  });

  test('the same query over TCP, and the reverse (PTR) of db\'s address', async () => {
    const db = await ipOn(w, 'db', 'app');
    assert.deepEqual(await ask(w, 'web', 'db', 'A', { transport: 'tcp' }), { rcode: 'NOERROR', answers: [db] });
    const ptr = `${db.split('.').reverse().join('.')}.in-addr.arpa`;
    assert.deepEqual(await ask(w, 'web', ptr, 'PTR'), { rcode: 'NOERROR', answers: ['db.app'] });
    assert.deepEqual(await ask(w, 'stranger', ptr, 'PTR'), { rcode: 'NXDOMAIN', answers: [] });
  });

  test('names of other networks are NXDOMAIN, and never sent upstream', async () => {
    assert.deepEqual(await ask(w, 'stranger', 'db'), { rcode: 'NXDOMAIN', answers: [] });
    assert.deepEqual(await ask(w, 'stranger', 'database'), { rcode: 'NXDOMAIN', answers: [] });
    assert.equal(await getent(w, 'stranger', 'db'), undefined);
    assert.deepEqual(await ask(w, 'web', 'stranger'), { rcode: 'NXDOMAIN', answers: [] });
    assert.ok(!upstream.queries().some((q) => /\b(db|database|stranger)\b/.test(q)), upstream.queries().join(', '));
  });

  test('other names are forwarded to the upstream (the daemon\'s --dns), which answers', async () => {
    assert.deepEqual(await ask(w, 'web', 'outside.example'), { rcode: 'NOERROR', answers: ['203.0.113.7'] });
    assert.deepEqual(await ask(w, 'web', 'nothing.example'), { rcode: 'NXDOMAIN', answers: [] });
    assert.deepEqual(await ask(w, 'web', 'outside.example', 'A', { transport: 'tcp' }), { rcode: 'NOERROR', answers: ['203.0.113.7'] });
    assert.equal(await getent(w, 'web', 'outside.example'), '203.0.113.7');
    assert.ok(upstream.queries().includes('A outside.example'));
  });

  test('a multi-homed container resolves the names of both its networks', async () => {
    await w.berthOk('run', '-d', '--name', 'both', '--network', 'app', '--', 'sleep', '1000');
    await w.berthOk('network', 'connect', 'other', 'both');
    assert.deepEqual(await ask(w, 'both', 'db'), { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
    assert.deepEqual(await ask(w, 'both', 'stranger'), { rcode: 'NOERROR', answers: [await ipOn(w, 'stranger', 'other')] });
    // And both see it, each by its address on their shared network.
    assert.deepEqual(await ask(w, 'stranger', 'both'), { rcode: 'NOERROR', answers: [await ipOn(w, 'both', 'other')] });
    assert.deepEqual(await ask(w, 'web', 'both'), { rcode: 'NOERROR', answers: [await ipOn(w, 'both', 'app')] });
  });

  test('records follow the containers at once: connect, disconnect, stop and rm', async () => {
    await w.berthOk('network', 'connect', '--alias', 'late', 'app', 'stranger');
    assert.deepEqual(await ask(w, 'web', 'late'), { rcode: 'NOERROR', answers: [await ipOn(w, 'stranger', 'app')] });
    assert.deepEqual(await ask(w, 'stranger', 'db'), { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
    await w.berthOk('network', 'disconnect', 'app', 'stranger');
    assert.deepEqual(await ask(w, 'web', 'late'), { rcode: 'NXDOMAIN', answers: [] });
    await w.berthOk('run', '-d', '--name', 'temp', '--network', 'app', '--', 'sleep', '1000');
    assert.equal((await ask(w, 'web', 'temp')).rcode, 'NOERROR');
    await w.berthOk('stop', '-t', '1', 'temp');
    assert.equal((await ask(w, 'web', 'temp')).rcode, 'NXDOMAIN');
    await w.berthOk('rm', 'temp');
    // Now unknown to berth: it goes upstream, which does not know it either.
    assert.equal((await ask(w, 'web', 'temp')).rcode, 'NXDOMAIN');
    assert.ok(upstream.queries().includes('A temp'));
  });

  test('a dead upstream gives SERVFAIL before the client gives up, not a hang', async () => {
    // Nothing answers on 198.51.100.253; the client waits 4.5 s, the resolver's budget is 3 s.
    await w.berthOk('run', '-d', '--name', 'lonely', '--network', 'app', '--dns', '198.51.100.253', '--', 'sleep', '1000');
    assert.deepEqual(await ask(w, 'lonely', 'outside.example'), { rcode: 'SERVFAIL', answers: [] });
    // Local names do not depend on the upstream.
    assert.deepEqual(await ask(w, 'lonely', 'db'), { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
  });

  test('strangers get no answer: a query to a container\'s address from the host or from the outside host is not served (the resolver is no open resolver)', async () => {
    const target = await ipOn(w, 'web', 'app');
    const fromHost = await w.inHost(process.execPath, DNS_QUERY, target, 'db', 'A', 'udp', '1500');
    assert.equal((JSON.parse(fromHost.stdout) as Reply).rcode, 'TIMEOUT');
    const fromOutside = await w.inOutside(process.execPath, DNS_QUERY, target, 'outside.example', 'A', 'udp', '1500');
    assert.equal((JSON.parse(fromOutside.stdout) as Reply).rcode, 'TIMEOUT');
  });

  test('a bounded flood of 20,000 queries from one container does not stop the resolver answering another', async () => {
    // 20,000 datagrams, each a query for a local name, as fast as one process sends them.
    const flood =
      "const s=require('dgram').createSocket('udp4');const q=Buffer.from('00070100000100000000000002646200000100 01'.replace(/ /g,''),'hex');" +
      "let n=0;const go=()=>{for(let i=0;i<500&&n<20000;i++,n++)s.send(q,53,'127.0.0.11');if(n<20000)setImmediate(go);else setTimeout(()=>process.exit(0),200)};go();";
    const flooding = w.berth('exec', 'stranger', process.execPath, '-e', flood);
    const during = await ask(w, 'web', 'db');
    assert.deepEqual(during, { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
    assert.equal((await flooding).code, 0);
    assert.deepEqual(await ask(w, 'web', 'db'), { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
  });

  test('names survive a daemon restart (the resolver listens again in adopted containers)', async () => {
    await w.killDaemon('SIGKILL');
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.deepEqual(await ask(w, 'web', 'db'), { rcode: 'NOERROR', answers: [await ipOn(w, 'db', 'app')] });
  });

  test('name.network of a network the querier is not on is NXDOMAIN and never asked upstream', async () => {
    assert.equal((await ask(w, 'web', 'stranger.other')).rcode, 'NXDOMAIN');
    assert.equal(await getent(w, 'web', 'stranger.other'), undefined);
    assert.deepEqual(upstream.queries().filter((q) => q.includes('stranger')), []);
  });

  test('a container on internal networks only gets local names and REFUSED for the rest; nothing goes upstream', async () => {
    await w.berthOk('network', 'create', '--internal', 'sealed');
    await w.berthOk('run', '-d', '--name', 'inner', '--network', 'sealed', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'inner2', '--network', 'sealed', '--', 'sleep', '1000');
    assert.deepEqual(await ask(w, 'inner', 'inner2'), { rcode: 'NOERROR', answers: [await ipOn(w, 'inner2', 'sealed')] });
    const before = upstream.queries().length;
    assert.equal((await ask(w, 'inner', 'www.corp.example')).rcode, 'REFUSED');
    assert.equal(await getent(w, 'inner', 'www.corp.example'), undefined);
    assert.equal(upstream.queries().length, before);
  });

  test('a spoofed datagram from 127.0.0.11:53 is not answered (no loop of the resolver answering itself)', async () => {
    const loPackets = async () => {
      const line = (await w.berthOk('exec', 'web', 'cat', '/proc/net/dev')).split('\n').find((l) => l.trim().startsWith('lo:'))!;
      return Number(line.split(':')[1]!.trim().split(/\s+/)[9]); // transmitted packets
    };
    const spoof =
      'import socket,struct\n' +
      "q=bytes.fromhex('123401000001000000000000')+b'\\x02db\\x00\\x00\\x01\\x00\\x01'\n" +
      "u=struct.pack('!HHHH',53,53,8+len(q),0)+q\n" +
      "a=socket.inet_aton('127.0.0.11')\n" +
      "h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(u),0,0,64,17,0,a,a)\n" +
      'socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW).sendto(h+u,("127.0.0.11",0))\n';
    const before = await loPackets();
    await w.berthOk('exec', 'web', 'python3', '-c', spoof);
    await new Promise((r) => setTimeout(r, 1000));
    // The spoofed packet itself and the cat processes' own traffic: a handful, not thousands.
    assert.ok((await loPackets()) - before < 10, `lo sent ${(await loPackets()) - before} packets`);
    assert.deepEqual((await ask(w, 'web', 'db')).rcode, 'NOERROR');
  });

  test('a container removed while its query is being forwarded does not take the daemon down', async () => {
    await w.berthOk('run', '-d', '--name', 'victim', '--network', 'app', '--', 'sleep', '1000');
    const pending = w.berth('exec', 'victim', process.execPath, DNS_QUERY, '127.0.0.11', 'hang.silent.example', 'A', 'udp', '6000');
    await new Promise((r) => setTimeout(r, 500));
    await w.berthOk('rm', '-f', 'victim');
    await pending;
    // The forwarder gives up after its 3 s budget and answers on the closed socket's behalf.
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal((await w.api('GET', '/_ping')).body, 'OK');
    assert.doesNotMatch(w.daemonOutput, /BUG|ERR_SOCKET/);
  });
});

describe('the default bridge: host resolvers, --link, --add-host and resolver options', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonArgs: ['--dns', OUTSIDE_IP] });
    await w.startFakeDns();
    // Seed 002: bb on bridge2, bb1 on the default bridge, bb2 linked to bb1.
    await w.berthOk('network', 'create', 'bridge2');
    await w.berthOk('run', '-d', '--name', 'bb', '--network', 'bridge2', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'bb1', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'bb2', '--link', 'bb1', '--', 'sleep', '1000');
  });
  after(() => checkLeaksThenDispose(w));

  test('default-bridge containers ask the upstream directly; no embedded resolver', async () => {
    assert.equal(await w.berthOk('exec', 'bb1', 'cat', '/etc/resolv.conf'), `nameserver ${OUTSIDE_IP}\n`);
    assert.equal(await getent(w, 'bb1', 'outside.example'), '203.0.113.7');
    // Nothing listens on 127.0.0.11 in a default-bridge container.
    assert.match((await ask(w, 'bb1', 'bb2', 'A', { transport: 'tcp' })).rcode, /ECONNREFUSED/);
  });

  test('--link as in the seed: bb2 reaches bb1 by name; bb1 cannot resolve bb2, nor bb2 the container bb', async () => {
    const bb1 = await ipOn(w, 'bb1', 'bridge');
    assert.equal(await getent(w, 'bb2', 'bb1'), bb1);
    assert.equal((await w.berth('exec', 'bb2', 'ping', '-c1', '-W2', 'bb1')).code, 0);
    assert.equal(await getent(w, 'bb1', 'bb2'), undefined);
    const r = await w.berth('exec', 'bb1', 'ping', '-c1', '-W1', 'bb2');
    assert.notEqual(r.code, 0);
    assert.equal(await getent(w, 'bb2', 'bb'), undefined);
    const hosts = await w.berthOk('exec', 'bb2', 'cat', '/etc/hosts');
    assert.match(hosts, new RegExp(`^${bb1.replaceAll('.', '\\.')}\\tbb1 [0-9a-f]{12}$`, 'm'));
  });

  test('--link NAME:ALIAS, --add-host (also host-gateway), --dns, --dns-search and --dns-option land in the files', async () => {
    await w.berthOk('run', '-d', '--name', 'bb3', '--link', 'bb1:alias', '--add-host', 'gw:192.0.2.1', '--add-host', 'hostside:host-gateway',
      '--dns', '192.0.2.53', '--dns-search', 'corp.example', '--dns-option', 'ndots:2', '--', 'sleep', '1000');
    const hosts = await w.berthOk('exec', 'bb3', 'cat', '/etc/hosts');
    assert.match(hosts, /^192\.0\.2\.1\tgw$/m);
    assert.match(hosts, /^172\.17\.0\.1\thostside$/m);
    assert.match(hosts, new RegExp(`^${(await ipOn(w, 'bb1', 'bridge')).replaceAll('.', '\\.')}\\talias bb1 [0-9a-f]{12}$`, 'm'));
    assert.equal(await getent(w, 'bb3', 'alias'), await ipOn(w, 'bb1', 'bridge'));
    assert.equal(await w.berthOk('exec', 'bb3', 'cat', '/etc/resolv.conf'), 'nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n');
    // Only bb3 sees them: bb2's files are its own.
    assert.doesNotMatch(await w.berthOk('exec', 'bb2', 'cat', '/etc/hosts'), /gw|alias/);
    const cfg = JSON.parse(await w.berthOk('inspect', '-f', '{{json .HostConfig}}', 'bb3'));
    assert.deepEqual([cfg.Dns, cfg.DnsSearch, cfg.DnsOptions, cfg.ExtraHosts, cfg.Links], [['192.0.2.53'], ['corp.example'], ['ndots:2'], ['gw:192.0.2.1', 'hostside:host-gateway'], ['/bb1:/bb3/alias']]);
  });

  test('on a user-defined network the search domains and options are kept, with the embedded resolver', async () => {
    await w.berthOk('run', '-d', '--name', 'bb4', '--network', 'bridge2', '--dns-search', 'corp.example', '--', 'sleep', '1000');
    assert.equal(await w.berthOk('exec', 'bb4', 'cat', '/etc/resolv.conf'), 'nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n');
    // "www" is no container: with the search domain the client finds www.corp.example upstream.
    assert.equal(await getent(w, 'bb4', 'www'), '203.0.113.8');
    assert.equal(await getent(w, 'bb4', 'bb'), await ipOn(w, 'bb', 'bridge2'));
  });

  test('bad --link and --add-host are refused with what was wrong, and nothing is created', async () => {
    const before = await w.berthOk('ps', '-a', '-q');
    for (const [args, message] of [
      [['--link', 'nope'], /^Error: cannot link to container "nope": no such container$/m],
      [['--link', 'bb1:bad alias'], /^Error: invalid --link "bb1:bad alias"$/m],
      [['--add-host', 'gw'], /^Error: invalid --add-host "gw": bad host name$/m],
      [['--add-host', 'gw:300.1.1.1'], /^Error: invalid --add-host "gw:300\.1\.1\.1": "300\.1\.1\.1" is not an IPv4 address$/m],
      [['--dns', 'resolver.example'], /^Error: invalid --dns "resolver\.example": not an IPv4 address$/m],
      [['--network', 'host', '--link', 'bb1'], /^Error: conflicting options: --link and the host network mode$/m],
      [['--network', 'container:bb1', '--dns', '192.0.2.1'], /^Error: conflicting options: --dns\/--dns-search\/--dns-opt and network mode container:bb1$/m],
    ] as const) {
      const r = await w.berth('run', '-d', ...args, '--', 'sleep', '1');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal(await w.berthOk('ps', '-a', '-q'), before);
  });

  test('a default-bridge container connected to a user-defined network switches to the embedded resolver, as Docker\'s does', async () => {
    await w.berthOk('network', 'connect', 'bridge2', 'bb1');
    assert.match(await w.berthOk('exec', 'bb1', 'cat', '/etc/resolv.conf'), /^nameserver 127\.0\.0\.11$/m);
    assert.equal(await getent(w, 'bb1', 'bb'), await ipOn(w, 'bb', 'bridge2'));
    assert.equal(await getent(w, 'bb1', 'outside.example'), '203.0.113.7', 'other names still go to the upstream');
  });
});
