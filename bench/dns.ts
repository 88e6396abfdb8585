/**
 * The embedded resolver under load, beside aardvark-dns (Podman's resolver, Debian's
 * package, run standalone) in the same run, with the same client and the same containers:
 *  - local names: containers of the querier's network (1, then 1,000 on the network);
 *  - forwarded names: a name only the upstream knows (a fake upstream on the outside host,
 *    which both resolvers reach through the host's resolv.conf).
 * berth answers on 127.0.0.11 inside the client's namespace; aardvark on the network's
 * gateway address, as netavark runs it. The client is dnsperf in the client container's
 * namespace (bench/dnsperf.ts: its defaults, 100 queries in flight), for queries per
 * second, and a second verbose run for p50 and p99.
 * Run inside the sandbox: npm run bench:dns (aardvark-dns and dnsperf: scripts/setup.sh --with-peers)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as dnsPacket from 'dns-packet';
import { buildNameIndex } from '../src/dns/names.js';
import { EmbeddedResolver } from '../src/dns/resolver.js';
import { OUTSIDE_IP, World } from '../test/world/world.js';
import { callOk } from './api-client.js';
import { haveDnsperf, measureDns, waitForAnswers, type DnsLoad } from './dnsperf.js';
import { fmt, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:dns');
  process.exit(1);
}

const LEVELS = (process.env.LEVELS ?? '1,1000').split(',').map(Number);
const LOCAL_SECONDS = Number(process.env.LOCAL_SECONDS ?? 6);
const FORWARDED_SECONDS = Number(process.env.FORWARDED_SECONDS ?? 3);
const AARDVARK = '/usr/lib/podman/aardvark-dns';
const AARDVARK_DIR = '/tmp/berth-bench-aardvark';
const SUBNET_GATEWAY = '10.99.0.1';

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** aardvark-dns for network "app": its config file lists every container, as netavark writes it. */
function startAardvark(w: World, entries: { id: string; ip: string; name: string }[]): () => void {
  rmSync(AARDVARK_DIR, { recursive: true, force: true });
  mkdirSync(AARDVARK_DIR, { recursive: true });
  writeFileSync(`${AARDVARK_DIR}/app`, [SUBNET_GATEWAY, ...entries.map((e) => `${e.id} ${e.ip}  ${e.name},${e.id.slice(0, 12)}`)].join('\n') + '\n');
  // It daemonizes and writes its pid next to the config.
  sh('ip', ['netns', 'exec', w.host, AARDVARK, '--config', AARDVARK_DIR, '-p', '53', 'run']);
  return () => {
    const pid = Number(readFileSync(`${AARDVARK_DIR}/aardvark.pid`, 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGTERM');
    rmSync(AARDVARK_DIR, { recursive: true, force: true });
  };
}

/**
 * The resolver's own cost per answer, in-process (no sockets, no client): what it does for
 * a query for a local name with N containers on the network.
 */
async function answerCostUs(population: number): Promise<number> {
  const endpoints = Array.from({ length: population }, (_, i) => ({
    containerId: String(i).padStart(64, 'a'), containerName: `c${i}`, networkId: 'app', networkName: 'app', address: `10.99.${i >> 8}.${i & 255}`, aliases: [],
  }));
  const index = buildNameIndex(endpoints);
  const resolver = new EmbeddedResolver({ index: () => index, networksOf: () => ['app'], upstreamsOf: () => [], mayForward: () => true });
  const query = dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: `c${population - 1}` }] });
  const rounds = 50_000;
  for (let i = 0; i < rounds / 5; i++) await resolver.respond('client', query, 'udp');
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) await resolver.respond('client', query, 'udp');
  return Number(process.hrtime.bigint() - start) / rounds / 1000;
}

async function main(): Promise<void> {
  if (!haveDnsperf()) throw new Error('bench: dnsperf is missing (scripts/setup.sh --with-peers installs it)');
  console.log('# the resolver\'s cost per local answer, in-process (no sockets), µs');
  const costs: string[][] = [];
  for (const n of LEVELS) costs.push([String(n), (await answerCostUs(n)).toFixed(2)]);
  printTable(['containers on the network', 'µs per answer'], costs);
  console.log('');
  // The "host's resolv.conf" both resolvers forward by: the fake upstream. A bind mount in
  // this sandbox's own mount namespace; the machine's file is untouched.
  const w = await World.create();
  await w.startFakeDns();
  writeFileSync('/tmp/berth-bench-resolv.conf', `nameserver ${OUTSIDE_IP}\n`);
  sh('mount', ['--bind', '/tmp/berth-bench-resolv.conf', '/etc/resolv.conf']);
  const rows: string[][] = [];
  try {
    // aardvark-dns listens on the host (the gateway address, as netavark runs it): since
    // part 9 a network's containers reach the host's own services only with host access.
    await w.berthOk('network', 'create', '--subnet', '10.99.0.0/16', '-o', 'berth.host_access=true', 'app');
    await w.berthOk('run', '-d', '--name', 'client', '--network', 'app', '--', 'sleep', '100000');
    const clientNetns = (await w.berthOk('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'client')).trim().replace('/run/netns/', '');
    let population = 0;
    for (const level of LEVELS) {
      // Through the API, not the CLI: a thousand `berth run` processes would take minutes.
      while (population < level) {
        await callOk(w.socket, 'POST', `/containers/create?name=c${population}`, { Cmd: ['sleep', '100000'], HostConfig: { NetworkMode: 'app' } });
        await callOk(w.socket, 'POST', `/containers/c${population}/start`);
        population++;
      }
      const containers = JSON.parse(await w.berthOk('network', 'inspect', '-f', '{{json .Containers}}', 'app')) as Record<string, { Name: string; IPv4Address: string }>;
      const entries = Object.entries(containers).map(([id, c]) => ({ id, name: c.Name, ip: c.IPv4Address.split('/')[0]! }));
      const names = Array.from({ length: Math.min(level, 100) }, (_, i) => `c${Math.floor((i * level) / Math.min(level, 100))}`);
      process.stderr.write(`  ${level} containers on the network\n`);
      const measure = (server: string): Record<'local' | 'forwarded', DnsLoad> => ({
        local: measureDns(clientNetns, server, names, LOCAL_SECONDS),
        forwarded: measureDns(clientNetns, server, ['outside.example'], FORWARDED_SECONDS),
      });
      const berth = measure('127.0.0.11');
      let aardvark: ReturnType<typeof measure> | undefined;
      if (existsSync(AARDVARK)) {
        const stop = startAardvark(w, entries);
        try {
          waitForAnswers(clientNetns, SUBNET_GATEWAY, names[0]!);
          aardvark = measure(SUBNET_GATEWAY);
        } finally {
          stop();
        }
      }
      for (const kind of ['local', 'forwarded'] as const) {
        const b = berth[kind];
        const a = aardvark?.[kind];
        rows.push([
          String(level), kind,
          String(b.qps), fmt(b.p50Ms), fmt(b.p99Ms), String(b.lost),
          a ? String(a.qps) : '—', a ? fmt(a.p50Ms) : '—', a ? fmt(a.p99Ms) : '—', a ? String(a.lost) : '—',
          a ? `${(b.qps / a.qps).toFixed(2)}x` : '—',
        ]);
      }
    }
  } finally {
    spawnSync('umount', ['/etc/resolv.conf']);
    rmSync('/tmp/berth-bench-resolv.conf', { force: true });
    await w.dispose();
  }
  console.log(`# DNS resolver under load: dnsperf, 100 queries in flight, ${LOCAL_SECONDS} s per local cell, ${FORWARDED_SECONDS} s per forwarded one (p50/p99 from a verbose run half as long); latencies in ms`);
  printTable(['containers', 'names', 'berth qps', 'berth p50', 'berth p99', 'berth lost', 'aardvark qps', 'aardvark p50', 'aardvark p99', 'aardvark lost', 'berth / aardvark qps'], rows);
  if (!existsSync(AARDVARK)) console.log('aardvark-dns: not measured (scripts/setup.sh --with-peers installs it)');
}

await main();
