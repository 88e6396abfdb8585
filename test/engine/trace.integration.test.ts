import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mustEventually, OUTSIDE_IP, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';
import { seededRandom } from '../world/seeded.js';

/**
 * `berth trace`'s two methods must agree: the model (computed, nothing sent) and the probe
 * (a real packet, traced by nftables). A random topology from a seed (printed; set
 * BERTH_TRACE_SEED to replay one, BERTH_TRACE_PAIRS for more pairs): bridge networks, an
 * internal one, the default bridge, containers on one or two of them with and without
 * listeners, published ports, host, none and container:NAME modes, a macvlan LAN on the
 * uplink with two containers, the host and a host beyond the uplink (the LAN's router).
 * At least 200 pairs; the verdicts must be equal, and a drop must be blamed on the same
 * rule (handle) by both. The same again with `--firewall iptables` (the model then reads
 * the tables iptables-nft wrote, jumps and all), on fewer pairs to keep the suite's time. Pairs the model hands to a machine berth does not run (the
 * router: `beyondHost`) are counted apart: what happens there is not the model's to know.
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

interface Answer {
  verdict: string;
  beyondHost?: string;
  hops: { at: string; what: string; rule?: { table: string; handle: number } }[];
}

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
    const count = 5 + Math.floor(pick() * 3);
    for (let i = 0; i < count; i++) {
      const name = `c${i}`;
      const [first, second] = [oneOf(networks), chance(0.4) ? oneOf(networks) : undefined];
      const listens = chance(0.7);
      const publish = listens && first !== 'i1' && chance(0.5) ? ['-p', `${nextPort++}:5000`] : [];
      const command = listens ? [process.execPath, '-e', SERVER] : ['sleep', '600'];
      await w.berthOk('run', '-d', '--name', name, '--network', first, ...publish, '--', ...command);
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
    const seen = new Map<string, number>();
    const disagreements: string[] = [];
    const tried = new Set<string>();
    let elapsedMs = 0;
    let traced = 0;
    let refusedAlike = 0;
    let beyond = 0;
    for (let n = 0; traced < PAIRS && n < PAIRS * 20; n++) {
      const src = sources[Math.floor(pick() * sources.length)]!;
      const base = destinations[Math.floor(pick() * destinations.length)]!;
      const suffix = base.startsWith('host:') || base.startsWith('outside:') ? '' : ['', ':5000', ':5001', ':5353/udp', ':5354/udp'][Math.floor(pick() * 5)]!;
      const dst = `${base}${suffix}`;
      if (base === src || tried.has(`${src} ${dst}`)) continue;
      tried.add(`${src} ${dst}`);
      const query = (probe: boolean) => `/berth/trace?${new URLSearchParams({ src, dst, ...(probe ? { probe: '1' } : {}) }).toString()}`;
      const t = Date.now();
      const model = await w.api('GET', query(false));
      // Both methods resolve the ends with the same code: a pair the model refuses, the probe
      // refuses alike. A pair handed to a machine berth does not run (the router:
      // beyondHost) is beyond the model: what happens there is not its to know.
      const m = model.status === 200 ? (JSON.parse(model.body) as Answer) : undefined;
      if (!m || m.beyondHost !== undefined) {
        if (m) beyond++;
        else refusedAlike++;
        continue;
      }
      const probe = await w.api('GET', query(true));
      elapsedMs += Date.now() - t;
      if (probe.status !== 200) {
        disagreements.push(`${src} -> ${dst}: model ${m.verdict}, probe ${probe.status} ${probe.body}`);
        continue;
      }
      const p = JSON.parse(probe.body) as Answer;
      traced++;
      seen.set(m.verdict, (seen.get(m.verdict) ?? 0) + 1);
      const blamed = (a: Answer) => a.hops.find((h) => h.rule && /^dropped/.test(h.what))?.rule?.handle ?? a.hops.find((h) => h.what === 'verdict drop')?.rule?.handle;
      if (m.verdict !== p.verdict) disagreements.push(`${src} -> ${dst}: model ${m.verdict}, probe ${p.verdict}\n  model: ${JSON.stringify(m.hops)}\n  probe: ${JSON.stringify(p.hops)}`);
      else if (m.verdict === 'dropped' && blamed(m) !== blamed(p)) disagreements.push(`${src} -> ${dst}: dropped by rule #${blamed(m)} (model) but #${blamed(p)} (probe)`);
    }
    console.log(`# trace agreement (${firewall}), seed ${SEED}: ${traced} pairs traced (and ${refusedAlike} refused, ${beyond} left the host for a machine berth does not run), verdicts ${JSON.stringify(Object.fromEntries(seen))}, ${elapsedMs} ms in all`);
    assert.deepEqual(disagreements, [], `seed ${SEED}`);
    assert.ok(traced >= PAIRS, `only ${traced} pairs traced`);
    assert.ok((seen.get('delivered') ?? 0) > 0 && (seen.get('dropped') ?? 0) > 0, `both outcomes: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  test('a drop outside netfilter is named by the kernel (skb:kfree_skb): a blackhole route on the host is no-route, as the model says', async (t) => {
    await w.berthOk('run', '-d', '--name', 'blackholed', '--network', 'bridge', '--', 'sleep', '600');
    await w.inHost('ip', 'route', 'add', 'blackhole', '192.0.2.0/24');
    try {
      for (const dst of ['outside:192.0.2.9', 'outside:192.0.2.9:80']) {
        const trace = async (probe: boolean) => JSON.parse(await w.berthOk('trace', '--json', ...(probe ? ['--probe'] : []), 'blackholed', dst)) as Answer & { notes: string[] };
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
