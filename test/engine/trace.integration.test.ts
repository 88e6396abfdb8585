import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mustEventually, OUTSIDE_IP, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';
import { seededRandom } from '../world/seeded.js';
import { describeTally, tallyAgreement, type TraceAnswer } from '../world/trace-agreement.js';

/**
 * `berth trace`'s two methods must agree: the model (computed, nothing sent) and the probe
 * (a real packet, traced by nftables). A random topology from a seed (printed; set
 * BERTH_TRACE_SEED to replay one, BERTH_TRACE_PAIRS for more pairs): bridge networks, an
 * internal one, the default bridge, containers on one or two of them with and without
 * listeners, published ports, legacy links, host, none and container:NAME modes, a
 * macvlan LAN on the uplink with two containers, the host and a host beyond the uplink
 * (the LAN's router). At least 200 pairs; the verdicts must be equal, and a drop must be
 * blamed on the same rule (handle) by both (test/world/trace-agreement.ts). The same again
 * with `--firewall iptables` (the model then reads the tables iptables-nft wrote, jumps
 * and all), on half as many pairs to keep the suite's time. Overlay pairs across hosts
 * are test/cluster/overlay.integration.test.ts's.
 */
const SEED = Number(process.env.BERTH_TRACE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PAIRS = Number(process.env.BERTH_TRACE_PAIRS ?? 200);
const BACKENDS = [
  { firewall: 'nftables', pairs: PAIRS },
  { firewall: 'iptables', pairs: Math.ceil(PAIRS / 2) },
] as const;
const SERVER =
  "const n=require('net'),d=require('dgram');n.createServer(s=>{s.on('error',()=>{});s.end('pong')}).listen(5000);" +
  "const u=d.createSocket('udp4');u.on('message',(m,r)=>u.send('pong',r.port,r.address));u.bind(5353)";


for (const { firewall, pairs: PAIRS } of BACKENDS) describe(`berth trace with --firewall ${firewall}: the model and the probe agree (seed ${SEED})`, { skip: sandboxSkip }, () => {
  let w: World;
  const sources: string[] = ['host'];
  const destinations: string[] = [];
  const listeners: string[] = [];
  before(async () => {
    const pick = seededRandom(SEED);
    const chance = (p: number) => pick() < p;
    const oneOf = <T>(items: readonly T[]): T => items[Math.floor(pick() * items.length)]!;
    w = await World.create({ daemonArgs: ['--firewall', firewall] });
    await w.serveTcp(w.outside, OUTSIDE_IP, 7000, "'pong'");
    await w.berthOk('network', 'create', 'n1');
    await w.berthOk('network', 'create', 'n2');
    await w.berthOk('network', 'create', '--internal', 'i1');
    const networks = ['bridge', 'n1', 'n2', 'i1'];
    let nextPort = 18000;
    const linkPick = seededRandom(SEED ^ 0x11);
    const linkedTo: string[] = [];
    const count = 5 + Math.floor(pick() * 3);
    for (let i = 0; i < count; i++) {
      const name = `c${i}`;
      const [first, second] = [oneOf(networks), chance(0.4) ? oneOf(networks) : undefined];
      const listens = chance(0.7);
      const publish = listens && first !== 'i1' && chance(0.5) ? ['-p', `${nextPort++}:5000`] : [];
      const command = listens ? [process.execPath, '-e', SERVER] : ['sleep', '600'];
      // Legacy links on the default bridge (names only: they change no path); drawn apart so the rest of a seed's topology stays as it was.
      const link = first === 'bridge' && linkedTo.length > 0 && linkPick() < 0.5 ? ['--link', `${linkedTo[Math.floor(linkPick() * linkedTo.length)]!}:peer`] : [];
      await w.berthOk('run', '-d', '--name', name, '--network', first, ...publish, ...link, '--', ...command);
      if (first === 'bridge') linkedTo.push(name);
      if (second !== undefined && second !== first) await w.berthOk('network', 'connect', second, name);
      sources.push(name);
      destinations.push(name);
      if (listens) listeners.push(name);
      if (publish.length > 0) destinations.push(`host:${publish[1]!.split(':')[0]}`);
    }
    // A macvlan LAN on the uplink: containers as hosts of 198.51.100.0/24, beside the router.
    await w.berthOk('network', 'create', '-d', 'macvlan', '--subnet', '198.51.100.0/24', '--gateway', OUTSIDE_IP, '--ip-range', '198.51.100.64/26', '-o', 'parent=uplink0', 'lan');
    for (const [name, command] of [['m0', [process.execPath, '-e', SERVER]], ['m1', ['sleep', '600']]] as const) {
      await w.berthOk('run', '-d', '--name', name, '--network', 'lan', '--', ...command);
      sources.push(name);
      destinations.push(name);
    }
    listeners.push('m0');
    await w.berthOk('run', '-d', '--name', 'hostmode', '--network', 'host', '--', 'sleep', '600');
    await w.berthOk('run', '-d', '--name', 'nonet', '--network', 'none', '--', 'sleep', '600');
    await w.berthOk('run', '-d', '--name', 'joined', '--network', 'container:c0', '--', 'sleep', '600');
    sources.push('hostmode', 'nonet', 'joined');
    destinations.push('nonet', 'joined', 'host', 'host:22', `outside:${OUTSIDE_IP}:7000`, `outside:${OUTSIDE_IP}`);
    // Every listener is up before anything is traced (a probe would race a starting server).
    for (const name of listeners) {
      await mustEventually(`${name} listens on 5000`, async () => (await w.berth('exec', name, 'grep', '-q', ':1388 ', '/proc/net/tcp6')).code === 0, 5000);
    }
  });
  after(() => checkLeaksThenDispose(w));

  test(`at least ${PAIRS} pairs: equal verdicts, drops blamed on the same rule, both outcomes seen`, async () => {
    const pick = seededRandom(SEED ^ 0x5eed);
    const tally = await tallyAgreement(
      PAIRS,
      () => {
        const src = sources[Math.floor(pick() * sources.length)]!;
        const base = destinations[Math.floor(pick() * destinations.length)]!;
        const suffix = base.startsWith('host:') || base.startsWith('outside:') ? '' : ['', ':5000', ':5001', ':5353/udp', ':5354/udp'][Math.floor(pick() * 5)]!;
        return base === src ? undefined : [src, `${base}${suffix}`];
      },
      async (src, dst, probe) => {
        const r = await w.api('GET', `/berth/trace?${new URLSearchParams({ src, dst, ...(probe ? { probe: '1' } : {}) }).toString()}`);
        return r.status === 200 ? { answer: JSON.parse(r.body) as TraceAnswer } : { refused: `${r.status} ${r.body}` };
      },
    );
    console.log(`# trace agreement (${firewall}), seed ${SEED}: ${describeTally(tally)}`);
    assert.deepEqual(tally.disagreements, [], `seed ${SEED}`);
    assert.ok(tally.traced >= PAIRS, `only ${tally.traced} pairs traced`);
    const seen = tally.verdicts;
    assert.ok((seen.get('delivered') ?? 0) > 0 && (seen.get('dropped') ?? 0) > 0, `both outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  test('a drop outside netfilter is named by the kernel (skb:kfree_skb): a blackhole route on the host is no-route, as the model says', async (t) => {
    await w.berthOk('run', '-d', '--name', 'blackholed', '--network', 'bridge', '--', 'sleep', '600');
    await w.inHost('ip', 'route', 'add', 'blackhole', '192.0.2.0/24');
    try {
      for (const dst of ['outside:192.0.2.9', 'outside:192.0.2.9:80']) {
        const trace = async (probe: boolean) => JSON.parse(await w.berthOk('trace', '--json', ...(probe ? ['--probe'] : []), 'blackholed', dst)) as TraceAnswer;
        const probe = await trace(true);
        const unavailable = probe.notes.find((n) => /drop reasons are not available/.test(n));
        if (unavailable) return t.skip(unavailable);
        assert.equal((await trace(false)).verdict, 'no-route', dst);
        assert.equal(probe.verdict, 'no-route', `${dst}: ${JSON.stringify(probe.hops)}`);
        assert.ok(probe.hops.some((h) => h.at === 'kernel' && /blackhole/.test(h.what) && /at ip_error\+/.test(h.what)), JSON.stringify(probe.hops));
        assert.ok(!probe.hops.some((h) => h.rule && /drop/.test(h.what)), 'no netfilter rule dropped it');
      }
    } finally {
      await w.inHost('ip', 'route', 'del', 'blackhole', '192.0.2.0/24');
    }
  });
});
