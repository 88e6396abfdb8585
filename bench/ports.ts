/**
 * Published ports at scale, both firewall backends in one run, on the real kernel:
 *  (a) time to publish the next port when N are published (one firewall change, as `run -p`
 *      makes it: nftables adds map elements, iptables rebuilds its chains);
 *  (b) new-connection latency from an outside host through the last published port.
 * Then one `berth run -p 20000-20999:20000-20999` (a 1,000-port range) against Docker
 * 20.10 (--userland-proxy=false) with --docker.
 *
 * World: this sandbox is the host (uplink 198.51.100.1), netns "pb-out" the outside host
 * (198.51.100.254), netns "pb-c" one container (172.17.0.2) running a TCP server on 5000.
 * Run inside the sandbox: npm run bench:ports [-- --docker]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FirewallBackend } from '../src/firewall/backend.js';
import { iptablesBackend } from '../src/firewall/iptables.js';
import type { FirewallModel, FirewallPort } from '../src/firewall/model.js';
import { nftablesBackend } from '../src/firewall/nftables.js';
import { BatchExecutor } from '../src/kernel/exec.js';
import { fmt, median, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:ports');
  process.exit(1);
}

const LEVELS = (process.env.LEVELS ?? '1,100,1000,10000').split(',').map(Number);
const PUBLISH_SAMPLES = Number(process.env.PUBLISH_SAMPLES ?? 20);
const CONNECTS = Number(process.env.CONNECTS ?? 200);
/** Rounds of CONNECTS each; the figure is the median of the rounds' medians (the client is noisy). */
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const executor = new BatchExecutor();
const network = { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false };
const FIRST_PORT = 10000;

function sh(line: string): void {
  const r = spawnSync('sh', ['-c', line], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${line}: ${r.stderr}`);
}

function buildWorld(): ChildProcess {
  for (const line of [
    'ip link add berth0 type bridge', 'ip addr add 172.17.0.1/16 dev berth0', 'ip link set berth0 up',
    'ip netns add pb-c', 'ip link add vethpb00000 master berth0 up type veth peer name eth0 netns pb-c',
    'ip -n pb-c addr add 172.17.0.2/16 dev eth0', 'ip -n pb-c link set eth0 up', 'ip -n pb-c link set lo up',
    'ip -n pb-c route add default via 172.17.0.1',
    'ip netns add pb-out', 'ip link add uplink0 type veth peer name wan0 netns pb-out',
    'ip addr add 198.51.100.1/24 dev uplink0', 'ip link set uplink0 up',
    'ip -n pb-out addr add 198.51.100.254/24 dev wan0', 'ip -n pb-out link set wan0 up', 'ip -n pb-out link set lo up',
    'ip -n pb-out route add 172.17.0.0/16 via 198.51.100.1',
    'sysctl -qw net.ipv4.ip_forward=1',
  ]) sh(line);
  return spawn('ip', ['netns', 'exec', 'pb-c', process.execPath, '-e', "require('net').createServer(s=>s.end()).listen(5000)"], { stdio: 'ignore' });
}

function teardownWorld(server: ChildProcess): void {
  server.kill('SIGKILL');
  for (const line of ['ip netns del pb-c', 'ip netns del pb-out', 'ip link del berth0', 'ip link del uplink0']) spawnSync('sh', ['-c', line]);
  spawnSync('sh', ['-c', 'nft delete table ip berth; iptables -t nat -F BERTH; iptables -F BERTH; iptables -F BERTH-FORWARD']);
}

const port = (i: number): FirewallPort => ({ protocol: 'tcp', hostIp: '', hostPort: FIRST_PORT + i, containerIp: '172.17.0.2', containerPort: 5000 });
const modelWith = (n: number): FirewallModel => ({ networks: [network], ports: Array.from({ length: n }, (_, i) => port(i)) });

/** Median microseconds of a TCP connect (SYN to established) from the outside host. */
function connectLatencyUs(hostPort: number): number {
  const script = `
    const net=require('net');const times=[];let left=${CONNECTS};
    const one=()=>{const t=process.hrtime.bigint();const s=net.connect(${hostPort},'198.51.100.1');
      s.on('connect',()=>{times.push(Number(process.hrtime.bigint()-t)/1000);s.destroy();if(--left>0)one();else done();});
      s.on('error',e=>{console.log('ERR '+e.code);process.exit(1);});};
    const done=()=>{times.sort((a,b)=>a-b);console.log(times[times.length>>1]);process.exit(0);};
    setTimeout(()=>{console.log('TIMEOUT');process.exit(1)},60000);one();`;
  const r = spawnSync('ip', ['netns', 'exec', 'pb-out', process.execPath, '-e', script], { encoding: 'utf8' });
  const value = Number(r.stdout.trim());
  if (!Number.isFinite(value)) throw new Error(`connect benchmark failed: ${r.stdout}${r.stderr}`);
  return value;
}

async function benchBackend(backend: FirewallBackend): Promise<{ level: number; publishMs: number; connectUs: number }[]> {
  const rows = [];
  for (const level of LEVELS) {
    // Fill to `level` ports in one change (the recovery path), then time single publishes.
    await executor.apply([backend.replaceAll('fill', modelWith(level))]);
    const samples: number[] = [];
    for (let i = 0; i < PUBLISH_SAMPLES; i++) {
      const before = modelWith(level);
      const added = [port(level + i)];
      const after = { ...before, ports: [...before.ports, ...added] };
      const start = process.hrtime.bigint();
      await executor.apply([backend.changePorts('publish', { before, after, added, removed: [] })]);
      samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      await executor.apply([backend.changePorts('unpublish', { before: after, after: before, added: [], removed: added })]);
    }
    const rounds = Array.from({ length: ROUNDS }, () => connectLatencyUs(FIRST_PORT + level - 1));
    rows.push({ level, publishMs: median(samples), connectUs: median(rounds) });
    process.stderr.write(`  ${backend.name}: ${level} ports measured\n`);
  }
  await executor.apply([backend.replaceAll('empty', { networks: [network], ports: [] })]);
  return rows;
}

/** `run -p 20000-20999:20000-20999` through a real berth daemon, minus the same run without -p. */
function berthRange(): { withRange: number; without: number } {
  const dir = mkdtempSync('/tmp/berth-bench-');
  const bin = fileURLToPath(new URL('../../bin/berth', import.meta.url));
  const sock = `unix://${dir}/berth.sock`;
  const daemon = spawn(process.execPath, [bin, 'daemon', '--data-root', `${dir}/data`, '--exec-root', dir, '--bridge', 'berthb0', '--bip', '10.250.0.1/16'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    for (let i = 0; i < 200 && !existsSync(`${dir}/berth.sock`); i++) spawnSync('sleep', ['0.05']);
    const timeRun = (args: string[]): number => {
      const start = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [bin, '-H', sock, 'run', '-d', ...args, '--', 'sleep', '1000'], { encoding: 'utf8' });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (r.status !== 0) throw new Error(r.stderr);
      spawnSync(process.execPath, [bin, '-H', sock, 'rm', '-f', r.stdout.trim()]);
      return ms;
    };
    const without = median([1, 2, 3].map(() => timeRun([])));
    const withRange = median([1, 2, 3].map(() => timeRun(['-p', '20000-20999:20000-20999'])));
    return { withRange, without };
  } finally {
    daemon.kill('SIGTERM');
    spawnSync('sleep', ['0.5']);
    spawnSync('ip', ['link', 'del', 'berthb0']);
    rmSync(dir, { recursive: true, force: true });
  }
}

function dockerRange(): { withRange: number; without: number } | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/docker-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/sbin/dockerd')) return 'not measured: needs ../shared/peers/docker-lab.sh and docker.io (scripts/setup.sh --with-peers)';
  const script = `t(){ s=$(date +%s%N); id=$(docker run -d "$@" bb sleep 1000); e=$(date +%s%N); docker rm -f $id >/dev/null; echo $(( (e-s)/1000000 )); };
    t >/dev/null; echo "without $(t)"; echo "range $(t -p 20000-20999:20000-20999)"`;
  const r = spawnSync(lab, ['bash', '-c', script], { encoding: 'utf8', timeout: 900_000, env: { ...process.env, DOCKERD_FLAGS: '--userland-proxy=false' } });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-300)}`;
  const value = (key: string) => Number(/^(\w+) (\d+)$/m.exec(r.stdout.split('\n').find((l) => l.startsWith(key)) ?? '')?.[2]);
  return { withRange: value('range'), without: value('without') };
}

const server = buildWorld();
try {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const results = new Map<string, Awaited<ReturnType<typeof benchBackend>>>();
  for (const backend of [nftablesBackend, iptablesBackend]) results.set(backend.name, await benchBackend(backend));
  const nft = results.get('nftables')!;
  const ipt = results.get('iptables')!;
  console.log(`# published ports: (a) publish one more port, median of ${PUBLISH_SAMPLES}, ms; (b) new TCP connection through the last port, median of ${ROUNDS} rounds of ${CONNECTS}, µs`);
  printTable(
    ['ports published', 'nft publish ms', 'iptables publish ms', 'ratio', 'nft connect µs', 'iptables connect µs', 'ratio', 'nft vs N=1'],
    nft.map((n, i) => {
      const t = ipt[i]!;
      return [String(n.level), fmt(n.publishMs), fmt(t.publishMs), `${(t.publishMs / n.publishMs).toFixed(1)}x`, fmt(n.connectUs), fmt(t.connectUs), `${(t.connectUs / n.connectUs).toFixed(2)}x`,
        `${(n.publishMs / nft[0]!.publishMs).toFixed(2)}x / ${(n.connectUs / nft[0]!.connectUs).toFixed(2)}x`];
    }),
  );
} finally {
  teardownWorld(server);
}

console.log('\n# one run publishing a 1,000-port range (-p 20000-20999:20000-20999), ms (median of 3; run -d minus the same without -p)');
const b = berthRange();
const rows = [['berth (nftables)', fmt(b.withRange), fmt(b.without), fmt(b.withRange - b.without)]];
if (process.argv.includes('--docker')) {
  const d = dockerRange();
  if (typeof d === 'string') console.log(`docker: ${d}`);
  else rows.push(['docker 20.10 --userland-proxy=false', fmt(d.withRange), fmt(d.without), fmt(d.withRange - d.without)]);
}
printTable(['engine', 'run -d with the range', 'run -d without', 'cost of the range'], rows);
