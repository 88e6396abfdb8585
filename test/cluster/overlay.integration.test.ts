import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterWorld } from '../world/cluster.js';
import { seededRandom } from '../world/seeded.js';
import { describeTally, tallyAgreement, type TraceAnswer } from '../world/trace-agreement.js';
import { must, mustEventually, run, sandboxSkip } from '../world/world.js';

/** Pairs the cross-host agreement test compares (BERTH_TRACE_PAIRS scales it with the single-host test's). */
const PAIRS = Math.ceil(Number(process.env.BERTH_TRACE_PAIRS ?? 200) / 4);

/**
 * Overlay networks across three hosts on a real etcd (part 7): a network made on one
 * host is on every host; containers on different hosts reach each other at their own
 * addresses and by name, with the VXLAN MTU; `network rm` is refused while any host uses
 * the network, naming the containers and their hosts, and then leaves every host.
 */
/** A TCP server on port 80 that answers with the address it saw. */
const SERVER = "require('net').createServer((s) => { s.on('error', () => {}); s.end(`80 saw ${s.remoteAddress.replace('::ffff:', '')}\\n`); }).listen(80);";

/** A UDP server on port 5353 that answers with the address it saw (53 is the embedded resolver's inside the container). */
const UDP_ECHO = "const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send(`udp saw ${r.address}`,r.port,r.address));u.bind(5353);";

/** A UDP client: resolves `name` through the container's resolver, sends one datagram, prints the answer. */
const UDP_CLIENT = (name: string) =>
  `require('dns').lookup('${name}',4,(e,a)=>{if(e){console.log(e.code);process.exit(0)}const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));process.exit(0)});s.send('hi',5353,a);setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},1500);});`;

/** A TCP client printing the reply (or the error code). */
function client(address: string, port: number): string {
  return `const s=require('net').connect(${port},'${address}');let d='';s.on('data',(c)=>(d+=c));s.on('end',()=>{console.log(d.trim());process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},2000);`;
}

describe('overlay networks across hosts', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  const clusterArgs = (cw: ClusterWorld, address: string) => ['--cluster-store', `etcd://${cw.etcd!.endpoints[0]!.replace('http://', '')}`, '--cluster-advertise', address, '--cluster-lease-ttl', '3'];
  /** Waits up to `timeoutMs` (5 s: how long the cluster may take to converge) for `check`. */
  const eventually = (what: string, check: () => Promise<boolean>, timeoutMs = 5000) => mustEventually(what, check, timeoutMs);
  const lists = (i: number, name: string) => w.lists(i, name);
  const ipOf = async (i: number, name: string) => (await w.berthOk(i, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', name)).trim();
  const hostLinks = async (i: number) => (await w.onHost(i, 'ip', '-br', 'link', 'show')).stdout;

  before(async () => {
    w = await ClusterWorld.create({ hosts: 3, daemonArgs: (cw, h) => clusterArgs(cw, h.address) });
  });
  after(() => w?.dispose());

  test('made on one host, the network is on every host within seconds: overlay, global, its VNI', async () => {
    const id = (await w.berthOk(0, 'network', 'create', '-d', 'overlay', '--subnet', '10.30.0.0/24', 'ov')).trim();
    for (const i of [1, 2]) await eventually(`host ${i} lists ov`, () => lists(i, 'ov'));
    const net = JSON.parse(await w.berthOk(2, 'network', 'inspect', 'ov'))[0];
    assert.deepEqual([net.Id, net.Driver, net.Scope], [id, 'overlay', 'global']);
    assert.equal(net.Options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '10.30.0.0/24', Gateway: '10.30.0.1' }]);
    // Each host has the network's bridge and VXLAN link.
    for (const i of [0, 1, 2]) await eventually(`host ${i} has the VXLAN link`, async () => (await hostLinks(i)).includes(`vx-${id.slice(0, 12)}`));
    const again = await w.berth(1, 'network', 'create', '-d', 'overlay', 'ov');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /network with name ov already exists/);
    // A VXLAN id another network holds is refused, twice: the failed attempt gave back nothing of ov's.
    for (const attempt of [1, 2]) {
      const taken = await w.berth(attempt, 'network', 'create', '-d', 'overlay', '-o', 'com.docker.network.driver.overlay.vxlanid_list=4096', `ov-dup${attempt}`);
      assert.equal(taken.code, 1, `attempt ${attempt}`);
      assert.match(taken.stderr, /^Error: VXLAN id 4096 is used by another network of the cluster$/m);
    }
  });

  test('network create --dry-run prints the overlay\'s plan on this host and creates nothing anywhere', async () => {
    const plan = await w.berthOk(0, 'network', 'create', '--dry-run', '-d', 'overlay', '--subnet', '10.31.0.0/24', 'planned');
    assert.match(plan, /^ip link add vx-[0-9a-f]{12} mtu 1450 type vxlan id 4097 local 203\.0\.113\.10 dstport 4789 nolearning proxy$/m);
    assert.match(plan, /^ip link add veth[0-9a-f]{7} mtu 1450 numtxqueues 1 numrxqueues 1 master ov-[0-9a-f]{12} up type veth peer name eth0 mtu 1450 numtxqueues 1 numrxqueues 1 address 02:42:0a:1f:00:02 netns berth-[0-9a-f]{12}$/m);
    for (const i of [0, 1, 2]) assert.equal(await lists(i, 'planned'), false);
  });

  test('containers on three hosts reach each other at their own addresses and by name; a 1422-byte DF ping crosses', async () => {
    for (const i of [0, 1, 2]) await w.berthOk(i, 'run', '-d', '--name', `c${i}`, '--network', 'ov', '--', 'sleep', '1000');
    const ips = await Promise.all([0, 1, 2].map((i) => ipOf(i, `c${i}`)));
    assert.equal(new Set(ips).size, 3, `distinct addresses across hosts: ${ips.join(' ')}`);
    // Each host's inspect lists its own containers on the network, as Docker's does for a swarm overlay.
    const local = JSON.parse(await w.berthOk(1, 'network', 'inspect', 'ov'))[0].Containers as Record<string, { Name: string }>;
    assert.deepEqual(Object.values(local).map((c) => c.Name), ['c1']);
    assert.match(await w.berthOk(0, 'exec', 'c0', 'ip', '-br', 'link', 'show', 'eth0'), /eth0@\S+\s+UP/);
    assert.match(await w.berthOk(0, 'exec', 'c0', 'cat', '/sys/class/net/eth0/mtu'), /^1450$/m);
    await eventually('c0 reaches c1', async () => (await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W1', ips[1]!)).code === 0);
    await eventually('c1 reaches c2 by name', async () => (await w.berth(1, 'exec', 'c1', 'ping', '-c1', '-W1', 'c2')).code === 0);
    assert.equal((await w.berth(2, 'exec', 'c2', 'ping', '-c1', '-W2', '-M', 'do', '-s', '1422', ips[0]!)).code, 0);
  });

  test('overlay containers go out through their host (NAT on the gateway bridge) and publish ports there; across the overlay, no NAT', async () => {
    // The underlay's router has no route to any container subnet: only NAT brings the reply back.
    assert.equal((await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W2', '203.0.113.1')).code, 0);
    assert.match(await w.berthOk(0, 'exec', 'c0', 'ip', 'route'), /^default via \S+ dev eth1/m);
    assert.equal(await lists(0, 'berth_gwbridge'), true, 'the gateway bridge is a network of its own, as docker_gwbridge');
    assert.deepEqual(Object.keys(JSON.parse(await w.berthOk(0, 'inspect', 'c0'))[0].NetworkSettings.Networks), ['ov'], 'and not one of the container\'s networks');
    const run = await w.berth(1, 'run', '-d', '--name', 'web', '--network', 'ov', '-p', '8080:80', '--', process.execPath, '-e', SERVER);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /discarded/);
    const ask = (from: number, address: string, port: number) => w.berth(from, 'exec', `c${from}`, process.execPath, '-e', client(address, port)).then((r) => r.stdout.trim());
    await eventually('the published port answers on host 1', async () => (await ask(2, w.hosts[1]!.address, 8080)) === `80 saw ${w.hosts[2]!.address}`);
    assert.equal(await ask(2, await ipOf(1, 'web'), 80), `80 saw ${await ipOf(2, 'c2')}`, 'the server sees the overlay address');
    await w.berthOk(1, 'rm', '-f', 'web');
  });

  test('berth trace across the overlay: the model names the tunnel and the host, the probe agrees; a local peer is a bridge away', async () => {
    const trace = async (probe: boolean, dst: string) => JSON.parse(await w.berthOk(0, 'trace', '--json', ...(probe ? ['--probe'] : []), 'c0', dst));
    const model = await trace(false, 'c1');
    assert.equal(model.verdict, 'delivered');
    assert.ok(model.hops.some((h: any) => /through the tunnel to host 203\.0\.113\.11 \(UDP 4789\)/.test(h.what)), JSON.stringify(model.hops));
    assert.ok(model.hops.some((h: any) => h.at === 'host 203.0.113.11' && h.container === 'c1'), JSON.stringify(model.hops));
    assert.equal((await trace(true, 'c1')).verdict, 'delivered');
    // A container on the same host: a bridge away, no tunnel.
    await w.berthOk(0, 'run', '-d', '--name', 'near', '--network', 'ov', '--', 'sleep', '1000');
    const local = await trace(false, 'near');
    assert.equal(local.verdict, 'delivered');
    assert.ok(!local.hops.some((h: any) => /tunnel/.test(h.what)), JSON.stringify(local.hops));
    await w.berthOk(0, 'rm', '-f', 'near');
  });

  test('berth trace agrees with itself across hosts: random pairs over the overlay, a local bridge and the host, model and probe', async () => {
    const seed = Number(process.env.BERTH_TRACE_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const pick = seededRandom(seed);
    // Listeners: TCP 5000 and UDP 5353 answer "pong".
    const listener = [process.execPath, '-e', "require('net').createServer(s=>{s.on('error',()=>{});s.end('pong')}).listen(5000);const u=require('dgram').createSocket('udp4');u.on('message',(m,r)=>u.send('pong',r.port,r.address));u.bind(5353)"];
    await w.berthOk(0, 'network', 'create', 'lb');
    await w.berthOk(0, 'run', '-d', '--name', 'oa', '--network', 'ov', '--', ...listener);
    await w.berthOk(0, 'run', '-d', '--name', 'ob', '--network', 'ov', '--', 'sleep', '1000');
    await w.berthOk(0, 'network', 'connect', 'lb', 'ob');
    await w.berthOk(0, 'run', '-d', '--name', 'oc', '--network', 'lb', '--', ...listener);
    await w.berthOk(1, 'run', '-d', '--name', 'r1', '--network', 'ov', '--', ...listener);
    try {
      for (const [i, name] of [[0, 'oa'], [0, 'oc'], [1, 'r1']] as const) {
        await eventually(`${name} listens`, async () => (await w.berth(i, 'exec', name, 'grep', '-q', ':1388 ', '/proc/net/tcp6')).code === 0);
      }
      await eventually('host 0 knows r1, on host 1', async () => (await w.berth(0, 'trace', 'c0', 'r1')).code === 0);
      const sources = ['c0', 'oa', 'ob', 'oc', 'host'];
      const destinations = ['c0', 'oa', 'ob', 'oc', 'c1', 'r1', 'c2', 'host', 'outside:203.0.113.1'];
      const oneOf = <T>(items: readonly T[]) => items[Math.floor(pick() * items.length)]!;
      const tally = await tallyAgreement(
        PAIRS,
        () => {
          const [src, base] = [oneOf(sources), oneOf(destinations)];
          const suffix = base === 'host' || base.startsWith('outside:') ? '' : oneOf(['', ':5000', ':5001', ':5353/udp']);
          return src === base ? undefined : [src, `${base}${suffix}`];
        },
        async (src, dst, probe) => {
          const r = await w.berth(0, 'trace', '--json', ...(probe ? ['--probe'] : []), src, dst);
          return r.code === 0 ? { answer: JSON.parse(r.stdout) as TraceAnswer } : { refused: r.stderr.trim() };
        },
      );
      console.log(`# trace agreement across hosts, seed ${seed}: ${describeTally(tally)}`);
      assert.deepEqual(tally.disagreements, [], `seed ${seed}`);
      assert.ok(tally.traced >= PAIRS, `only ${tally.traced} pairs traced`);
      assert.ok((tally.verdicts.get('delivered') ?? 0) > 0 && (tally.verdicts.get('dropped') ?? 0) > 0, describeTally(tally));
    } finally {
      await w.berthOk(0, 'rm', '-f', 'oa', 'ob', 'oc');
      await w.berthOk(1, 'rm', '-f', 'r1');
      await w.berthOk(0, 'network', 'rm', 'lb');
    }
  });

  test('explain network ov rebuilds the overlay from nothing: bridge, VXLAN link, the other hosts\' FDB and neighbour entries', async () => {
    const script = await w.berthOk(0, 'explain', 'network', 'ov');
    const id = JSON.parse(await w.berthOk(0, 'network', 'inspect', 'ov'))[0].Id.slice(0, 12);
    // What host 0's kernel holds for the overlay, and what the script builds in an empty namespace.
    const overlayState = async (inNs: (...cmd: string[]) => Promise<{ stdout: string }>) => {
      const json = async (...cmd: string[]) => JSON.parse((await inNs(...cmd)).stdout || '[]') as any[];
      const links = (await json('ip', '-j', '-d', 'link', 'show')).filter((l) => l.ifname.endsWith(id)).map((l) => `${l.ifname} ${l.linkinfo?.info_kind} mtu ${l.mtu} ${l.master ?? ''} ${l.linkinfo?.info_data?.id ?? ''}`).sort();
      const fdb = (await json('bridge', '-j', 'fdb', 'show', 'dev', `vx-${id}`)).filter((e) => e.dst).map((e) => `${e.mac} ${e.dst}`).sort();
      const neigh = (await json('ip', '-j', 'neigh', 'show', 'dev', `vx-${id}`)).map((n) => `${n.dst} ${n.lladdr}`).sort();
      return { links, fdb, neigh };
    };
    const live = await overlayState((...cmd) => w.onHost(0, ...cmd));
    assert.ok(live.fdb.length >= 2 && live.neigh.length >= 2, JSON.stringify(live));
    const scratch = `explain-${w.id}`;
    await must('ip', ['netns', 'add', scratch]);
    try {
      const applied = await run('nsenter', [`--net=/run/netns/${scratch}`, 'sh', '-e'], { input: script });
      assert.equal(applied.code, 0, applied.stderr);
      assert.deepEqual(await overlayState((...cmd) => run('ip', ['netns', 'exec', scratch, ...cmd])), live);
    } finally {
      await run('ip', ['netns', 'del', scratch]);
    }
  });

  test('an address that moves to another host is reached there at once, though its new owner never speaks first', async () => {
    // A container on host 0 talks to c1 on host 1: host 1's bridge learns its MAC behind the tunnel.
    await w.berthOk(0, 'run', '-d', '--name', 'mover', '--network', 'ov', '--', 'sleep', '1000');
    const address = await ipOf(0, 'mover');
    assert.equal((await w.berth(0, 'exec', 'mover', 'ping', '-c1', '-W2', await ipOf(1, 'c1'))).code, 0);
    await w.berthOk(0, 'rm', '-f', 'mover');
    // The same address (and so the same MAC) on host 1, for a container that sends nothing.
    await w.berthOk(1, 'run', '-d', '--name', 'moved', '--network', 'ov', '--ip', address, '--', 'sleep', '1000');
    try {
      await eventually('c0 reaches the moved address on host 1', async () => (await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W1', address)).code === 0);
    } finally {
      await w.berthOk(1, 'rm', '-f', 'moved');
    }
  });

  test('aliases resolve across hosts, and UDP crosses with the sender\'s own overlay address', async () => {
    await w.berthOk(2, 'run', '-d', '--name', 'echo', '--network', 'ov', '--network-alias', 'udp-echo', '--', process.execPath, '-e', UDP_ECHO);
    const reply = async () => (await w.berth(0, 'exec', 'c0', process.execPath, '-e', UDP_CLIENT('udp-echo'))).stdout.trim();
    await eventually('c0 gets an answer from udp-echo on host 2', async () => (await reply()).startsWith('udp saw'));
    assert.equal(await reply(), `udp saw ${await ipOf(0, 'c0')}`);
    await w.berthOk(2, 'rm', '-f', 'echo');
  });

  test('a daemon killed with -9 and restarted: its containers keep their addresses and connectivity; it publishes them again', async () => {
    const before = await ipOf(1, 'c1');
    await w.killDaemon(1, 'SIGKILL');
    // The data plane does not depend on the daemon: traffic keeps flowing while it is down.
    assert.equal((await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W2', before)).code, 0);
    assert.equal(await w.startDaemon(1, clusterArgs(w, w.hosts[1]!.address)), undefined, w.hosts[1]!.output);
    assert.equal(await ipOf(1, 'c1'), before);
    await eventually('c1 reaches c2 by name after the restart', async () => (await w.berth(1, 'exec', 'c1', 'ping', '-c1', '-W1', 'c2')).code === 0);
    await eventually('c0 still resolves c1', async () => (await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W1', 'c1')).code === 0);
  });

  test('a host that dies leaves every peer\'s names, FDB and neighbours within the lease TTL; back, its containers rejoin', async () => {
    const c2 = { ip: await ipOf(2, 'c2'), mac: (await w.berthOk(2, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.MacAddress}}', 'c2')).trim() };
    const vxlan = `vx-${(JSON.parse(await w.berthOk(0, 'network', 'inspect', 'ov'))[0].Id as string).slice(0, 12)}`;
    const fdbHas = async () => new RegExp(`^${c2.mac} dst`, 'm').test((await w.onHost(0, 'bridge', 'fdb', 'show', 'dev', vxlan)).stdout);
    assert.equal(await fdbHas(), true);
    const neighHas = async () => new RegExp(`^${c2.ip.replaceAll('.', '\\.')} `, 'm').test((await w.onHost(0, 'ip', 'neigh', 'show', 'dev', vxlan)).stdout);
    await w.killDaemon(2, 'SIGKILL');
    // One plan takes the FDB entry, then the neighbour entry: both are waited for (a read in between saw one of them).
    await eventually('host 2\'s endpoint leaves host 0\'s FDB and neighbours within the 3 s lease (and a margin)', async () => !(await fdbHas()) && !(await neighHas()), 3000 + 2500);
    assert.notEqual((await w.berth(0, 'exec', 'c0', 'getent', 'hosts', 'c2')).code, 0, 'its name is gone');
    const rm = await w.berth(0, 'network', 'rm', 'ov');
    assert.equal(rm.code, 1, 'a host that is down still has containers on the network');
    assert.match(rm.stderr, /containers on 203\.0\.113\.12, which holds addresses on it but is not in the cluster now/);
    assert.equal(await w.startDaemon(2, clusterArgs(w, w.hosts[2]!.address)), undefined, w.hosts[2]!.output);
    await eventually('host 2\'s endpoint is back in host 0\'s FDB', fdbHas);
    await eventually('c0 reaches c2 by name again', async () => (await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W1', 'c2')).code === 0);
  });

  test('a host cut off from the network leaves its peers within the lease TTL; reconnected, it registers again and its containers rejoin', async () => {
    const mac = (await w.berthOk(2, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.MacAddress}}', 'c2')).trim();
    const vxlan = `vx-${(JSON.parse(await w.berthOk(0, 'network', 'inspect', 'ov'))[0].Id as string).slice(0, 12)}`;
    const fdbHas = async () => new RegExp(`^${mac} dst`, 'm').test((await w.onHost(0, 'bridge', 'fdb', 'show', 'dev', vxlan)).stdout);
    const uplink = `v${w.id}h2`;
    await must('ip', ['link', 'set', uplink, 'down']);
    try {
      await eventually('the cut-off host\'s endpoint leaves host 0\'s FDB', async () => !(await fdbHas()), 3000 + 3000);
      assert.equal((await w.berth(0, 'exec', 'c0', 'getent', 'hosts', 'c2')).code !== 0, true, 'its name is gone');
    } finally {
      await must('ip', ['link', 'set', uplink, 'up']);
    }
    await eventually('host 2 registers again and c0 reaches c2 by name', async () => (await w.berth(0, 'exec', 'c0', 'ping', '-c1', '-W1', 'c2')).code === 0, 20_000);
    assert.equal(await fdbHas(), true);
  });

  test('network rm is refused while any host uses it, naming the containers and their hosts', async () => {
    const r = await w.berth(2, 'network', 'rm', 'ov');
    assert.equal(r.code, 1);
    for (const i of [0, 1, 2]) assert.match(r.stderr, new RegExp(`c${i} \\(on 203\\.0\\.113\\.${10 + i}\\)`));
  });

  test('with its containers gone, network rm on any host removes it from every host', async () => {
    const id = JSON.parse(await w.berthOk(0, 'network', 'inspect', 'ov'))[0].Id as string;
    for (const i of [0, 1, 2]) await w.berthOk(i, 'rm', '-f', `c${i}`);
    await eventually('the containers are gone from the cluster', async () => (await w.berth(1, 'network', 'rm', 'ov')).code === 0);
    for (const i of [0, 2]) await eventually(`host ${i} no longer lists ov`, async () => !(await lists(i, 'ov')));
    for (const i of [0, 1, 2]) await eventually(`host ${i} has no overlay links left`, async () => !(await hostLinks(i)).includes(id.slice(0, 12)));
  });

  test('-o encrypted on a kernel without ESP: an error naming the missing support; nothing created, no claim kept', async () => {
    const r = await w.berth(0, 'network', 'create', '-d', 'overlay', '-o', 'encrypted', 'sealed');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: an encrypted overlay network needs IPsec ESP support \(CONFIG_INET_ESP, CONFIG_XFRM_USER\), which this kernel lacks$/m);
    for (const i of [0, 1, 2]) assert.equal(await lists(i, 'sealed'), false);
    // The VXLAN id the failed create had reserved was given back: the next network gets it.
    await w.berthOk(1, 'network', 'create', '-d', 'overlay', 'ov2');
    const net = JSON.parse(await w.berthOk(1, 'network', 'inspect', 'ov2'))[0];
    assert.equal(net.Options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
    await w.berthOk(1, 'network', 'rm', 'ov2');
  });
});
