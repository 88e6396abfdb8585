/**
 * Part 7's overlay across hosts, measured on a cluster world (test/world/cluster.ts):
 * HOSTS network namespaces on one underlay, a daemon each, one real etcd.
 *  - convergence: from `berth run` returning on host A until host B's kernel forwards to the
 *    new container (a new FDB entry on B's VXLAN link, polled every ~5 ms), p50/p95; until
 *    a container on B resolves its name and then reaches it (a watcher inside that
 *    container, polling every 2 ms: part 11's measure); then one ping by name from a
 *    container on B must succeed (reported as a count);
 *  - attach on the overlay: `run -d` on the overlay minus `run -d --network none`, p50;
 *  - address allocation under contention: every host running containers at once;
 *  - etcd round trips per `run`, and the daemons' etcd traffic per minute when idle (etcd's
 *    own gRPC counters, from its /metrics);
 *  - failure detection: a daemon killed with -9 until a peer's FDB drops its endpoint,
 *    against the lease TTL.
 * With --docker, Docker 20.10's overlay on a one-node Swarm in its lab, in the same run:
 * `docker run` on an attachable overlay minus `--network none`.
 *
 * Run inside the sandbox: npm run bench:overlay [-- --docker]   (HOSTS=20 SAMPLES=10 to scale)
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClusterWorld } from '../test/world/cluster.js';
import { sleep } from '../test/world/world.js';
import { fmt, median, percentile, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:overlay');
  process.exit(2);
}

const HOSTS = Number(process.env.HOSTS ?? 3);
const SAMPLES = Number(process.env.SAMPLES ?? 10);
const TTL = 5;
/** Runs started at once, spread over every host: bounded, as 2 cores run all the daemons and CLIs. */
const BURST = 30;

const w = await ClusterWorld.create({
  hosts: HOSTS,
  daemonArgs: (cw, h) => ['--cluster-store', `etcd://${cw.etcd!.endpoints[0]!.replace('http://', '')}`, '--cluster-advertise', h.address, '--cluster-lease-ttl', String(TTL)],
});

/** etcd's gRPC requests so far (unary calls plus stream messages received): its round trips. */
async function etcdRequests(): Promise<number> {
  const text = await (await fetch(`${w.etcd!.endpoints[0]!}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('grpc_server_msg_received_total{')) total += Number(line.split(' ').at(-1));
  }
  return total;
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) return NaN;
    await sleep(5);
  }
  return performance.now() - started;
}

/**
 * A watcher in a container on host `b`: told "go NAME" on stdin (right when `run` returned
 * on another host), it asks the embedded resolver for NAME every 2 ms until it answers, then
 * sends a UDP datagram to that address every 2 ms until the container's kernel answers with
 * ICMP port unreachable (ECONNREFUSED on a connected socket: the packet crossed the VXLAN
 * tunnel and came back), and prints the milliseconds from "go" to each. Gives up after 10 s.
 */
const WATCHER = `
const dgram = require('dgram');
const q = (name, id) => { const b = [0, id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]; for (const p of name.split('.')) { b.push(p.length, ...Buffer.from(p)); } b.push(0, 0, 1, 0, 1); return Buffer.from(b); };
process.stdin.on('data', (line) => {
  const name = line.toString().trim().split(' ')[1];
  const t0 = process.hrtime.bigint(); const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const dns = dgram.createSocket('udp4'); let resolvedMs; let id = 0;
  const ask = setInterval(() => { if (ms() > 10000) { console.log('timeout'); process.exit(1); } dns.send(q(name, ++id & 255), 53, '127.0.0.11'); }, 2);
  dns.on('message', (m) => {
    if (resolvedMs !== undefined || m.readUInt16BE(6) === 0) return;
    resolvedMs = ms(); clearInterval(ask); dns.close();
    const address = [...m.subarray(m.length - 4)].join('.');
    const u = dgram.createSocket('udp4');
    u.on('error', (e) => { if (e.code === 'ECONNREFUSED') { console.log(JSON.stringify({ resolvedMs, reachableMs: ms() })); process.exit(0); } });
    u.connect(9, address, () => setInterval(() => { if (ms() > 10000) { console.log('timeout'); process.exit(1); } u.send('x'); }, 2));
  });
});
console.log('ready');`;

/** Starts the watcher in container `container` on host `b`; `go(name)` starts the clock, and resolves with its figures. */
async function startWatcher(b: number, container: string): Promise<(name: string) => Promise<{ resolvedMs: number; reachableMs: number } | undefined>> {
  const sandbox = (await w.berthOk(b, 'inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container)).trim().replace('/run/netns/', '');
  const child = spawn('nsenter', ['-t', String(w.hosts[b]!.daemon!.pid), '-m', '--', 'ip', 'netns', 'exec', sandbox, process.execPath, '-e', WATCHER], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await until(() => Promise.resolve(out.includes('ready')), 10_000);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return async (name) => {
    child.stdin.write(`go ${name}\n`);
    await exited;
    const line = out.split('\n').find((l) => l.startsWith('{'));
    return line ? (JSON.parse(line) as { resolvedMs: number; reachableMs: number }) : undefined;
  };
}

const vxlanOf = async () => `vx-${(JSON.parse(await w.berthOk(0, 'network', 'inspect', 'ov'))[0].Id as string).slice(0, 12)}`;
const macOf = async (host: number, name: string) => (await w.berthOk(host, 'inspect', '-f', '{{.NetworkSettings.Networks.ov.MacAddress}}', name)).trim();
const fdbMacs = async (host: number, vxlan: string) => new Set([...(await w.onHost(host, 'bridge', 'fdb', 'show', 'dev', vxlan)).stdout.matchAll(/^(\S+) dst /gm)].map((m) => m[1]!));
const fdbHas = async (host: number, vxlan: string, mac: string) => new RegExp(`^${mac} dst`, 'm').test((await w.onHost(host, 'bridge', 'fdb', 'show', 'dev', vxlan)).stdout);

try {
  // The network itself: made on host 0, until every host has its VXLAN link.
  let started = performance.now();
  await w.berthOk(0, 'network', 'create', '-d', 'overlay', '--subnet', '10.50.0.0/16', 'ov');
  const vxlan = await vxlanOf();
  await Promise.all(w.hosts.map((h) => until(async () => (await w.onHost(h.index, 'ip', 'link', 'show', vxlan)).code === 0)));
  const networkEverywhere = performance.now() - started;
  for (const h of w.hosts) await w.berthOk(h.index, 'run', '-d', '--name', `probe${h.index}`, '--network', 'ov', '--', 'sleep', '100000');

  // Convergence and attach.
  const converge: number[] = [];
  /** From `run` returning on A: B's resolver answers the name; then a datagram from B reaches it and is answered. */
  const resolvable: number[] = [];
  const reachable: number[] = [];
  const onOverlay: number[] = [];
  const onNone: number[] = [];
  let pingedByName = 0;
  for (let k = 0; k < SAMPLES; k++) {
    const a = k % HOSTS;
    const b = (k + 1) % HOSTS;
    const known = await fdbMacs(b, vxlan);
    const go = await startWatcher(b, `probe${b}`);
    started = performance.now();
    await w.berthOk(a, 'run', '-d', '--name', `s${k}`, '--network', 'ov', '--', 'sleep', '100000');
    const returned = performance.now();
    onOverlay.push(returned - started);
    const seen = go(`s${k}`);
    // Until B's VXLAN link has an entry it did not have: the new container's.
    converge.push(await until(async () => [...(await fdbMacs(b, vxlan))].some((m) => !known.has(m))));
    const fromB = await seen;
    if (fromB) {
      resolvable.push(fromB.resolvedMs);
      reachable.push(fromB.reachableMs);
    }
    if ((await w.berth(b, 'exec', `probe${b}`, 'ping', '-c1', '-W1', `s${k}`)).code === 0) pingedByName++;
    started = performance.now();
    await w.berthOk(a, 'run', '-d', '--name', `n${k}`, '--network', 'none', '--', 'sleep', '1');
    onNone.push(performance.now() - started);
  }

  // Round trips of one run, and idle traffic.
  let before = await etcdRequests();
  await w.berthOk(0, 'run', '-d', '--name', 'counted', '--network', 'ov', '--', 'sleep', '100000');
  const perRun = (await etcdRequests()) - before;
  before = await etcdRequests();
  await sleep(20_000);
  const idlePerMinute = (((await etcdRequests()) - before) * 60) / 20;

  // Allocation under contention: BURST runs at once, spread over every host.
  const hostOf = (j: number) => j % HOSTS;
  started = performance.now();
  const burst = await Promise.all(Array.from({ length: BURST }, (_, j) => w.berth(hostOf(j), 'run', '-d', '--name', `b${j}`, '--network', 'ov', '--', 'sleep', '100000')));
  const burstMs = performance.now() - started;
  const addresses = (await Promise.all(Array.from({ length: BURST }, (_, j) => w.berth(hostOf(j), 'inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', `b${j}`)))).map((a) => a.stdout.trim()).filter((a) => a !== '');
  const distinct = new Set(addresses).size;

  // Failure detection: the last host's daemon killed; host 0's FDB loses its probe's entry.
  const victim = HOSTS - 1;
  const victimMac = await macOf(victim, `probe${victim}`);
  await w.killDaemon(victim, 'SIGKILL');
  const detection = await until(async () => !(await fdbHas(0, vxlan, victimMac)), (TTL + 10) * 1000);

  console.log(`# berth overlay, ${HOSTS} hosts, one etcd member, lease TTL ${TTL} s, ${SAMPLES} samples`);
  printTable(
    ['measure', 'p50 ms', 'p95 ms', 'note'],
    [
      ['network create on host 0 (from the command) → VXLAN link on every host', fmt(networkEverywhere), '', ''],
      ['run returns on A → B forwards to it (FDB)', fmt(median(converge)), fmt(percentile(converge, 95)), `one ping by name from B right then: ${pingedByName}/${SAMPLES} succeeded`],
      ['run returns on A → its name resolves in a container on B', fmt(median(resolvable)), fmt(percentile(resolvable, 95)), `${resolvable.length}/${SAMPLES} seen within 10 s`],
      ['run returns on A → resolvable and reachable from that container', fmt(median(reachable)), fmt(percentile(reachable, 95)), 'a UDP datagram answered by its kernel (ICMP port unreachable)'],
      ['berth run -d on the overlay', fmt(median(onOverlay)), fmt(percentile(onOverlay, 95)), ''],
      ['berth run -d --network none', fmt(median(onNone)), fmt(percentile(onNone, 95)), ''],
      ['overlay attach (difference of p50s)', fmt(median(onOverlay) - median(onNone)), '', ''],
      [`${BURST} runs at once, spread over all hosts`, fmt(burstMs), '', `${burst.filter((r) => r.code === 0).length} succeeded; ${addresses.length} addresses, ${distinct} distinct${failures(burst)}`],
      ['etcd requests of one run', String(perRun), '', 'gRPC messages received by etcd'],
      ['etcd requests per minute, idle', fmt(idlePerMinute), '', `${HOSTS} daemons: lease keep-alives and watches`],
      ['daemon killed → peer drops its endpoint', fmt(detection), '', `lease TTL ${TTL * 1000} ms`],
    ],
  );

  if (process.argv.includes('--docker')) {
    console.log(`\n# Docker 20.10 overlay on a one-node Swarm (docker-lab.sh), same run, ${SAMPLES} runs each, ms`);
    const d = benchDocker(SAMPLES);
    if (typeof d === 'string') console.log(`docker: ${d}`);
    else {
      const dockerAttach = median(d.overlay) - median(d.none);
      const berthAttach = median(onOverlay) - median(onNone);
      printTable(
        ['', 'run on overlay p50', 'run --network none p50', 'overlay attach', 'docker / berth'],
        [
          ['docker', fmt(median(d.overlay)), fmt(median(d.none)), fmt(dockerAttach), `${(dockerAttach / berthAttach).toFixed(1)}x`],
          ['berth', fmt(median(onOverlay)), fmt(median(onNone)), fmt(berthAttach), '1.0x'],
        ],
      );
    }
  }
} finally {
  await w.dispose();
}

/** The first failure's message, if any run failed. */
function failures(results: readonly { code: number; stderr: string }[]): string {
  const failed = results.find((r) => r.code !== 0);
  return failed ? `; first failure: ${failed.stderr.trim().split('\n')[0]!.slice(0, 160)}` : '';
}

/** Docker's overlay needs Swarm mode: a one-node swarm, an attachable overlay, `docker run -d` on it and on none. */
function benchDocker(runs: number): { overlay: number[]; none: number[] } | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/docker-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/sbin/dockerd')) return 'not measured: needs ../shared/peers/docker-lab.sh and docker.io (scripts/setup.sh --with-peers)';
  const script =
    'docker swarm init --advertise-addr 198.51.100.1 >/dev/null && docker network create -d overlay --attachable --subnet 10.60.0.0/16 ov >/dev/null && docker run -d --network ov bb sleep 1000 >/dev/null; ' +
    `for i in $(seq ${runs}); do for mode in ov none; do s=$(date +%s%N); docker run -d --network $mode bb sleep 1000 >/dev/null; e=$(date +%s%N); echo "$mode $(( (e-s)/1000 ))"; done; done`;
  const r = spawnSync(lab, ['bash', '-c', script], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-400)}`;
  const times: Record<string, number[]> = { ov: [], none: [] };
  for (const line of r.stdout.split('\n')) {
    const [mode, us] = line.split(' ');
    times[mode ?? '']?.push(Number(us) / 1000);
  }
  return { overlay: times.ov!, none: times.none! };
}
