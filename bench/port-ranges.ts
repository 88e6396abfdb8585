/**
 * Publishing a range of ports (`-p 20000-20999:20000-20999`): what it adds to create+start
 * over the same container without ports, in berth (through its API) and in Podman 4.3 +
 * netavark (through `podman run`, inside ../shared/peers/podman-lab.sh), in the same run.
 * Also whether the daemon keeps answering meanwhile: a GET /_ping sent while a 10,000-port
 * container starts (it waited 26 s before the port index and the bulk host-port read).
 * Run inside the sandbox: npm run bench:port-ranges [-- --podman]   (SAMPLES=N, default 10)
 * (`--podman-client` is the half run inside the Podman lab.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { call } from './api-client.js';
import { fmt, median, percentile, printTable } from './stats.js';
import { startBenchDaemon } from './daemon.js';

const SAMPLES = Number(process.env.SAMPLES ?? 10);
const RANGE = { first: 20000, size: 1000 };

function rangeBindings(first: number, size: number) {
  const PortBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  const ExposedPorts: Record<string, Record<string, never>> = {};
  for (let p = first; p < first + size; p++) {
    PortBindings[`${p}/tcp`] = [{ HostIp: '', HostPort: String(p) }];
    ExposedPorts[`${p}/tcp`] = {};
  }
  return { PortBindings, ExposedPorts };
}

/** Podman's half: `podman run -d` with and without the range, interleaved; prints JSON samples. */
function podmanClient(): void {
  const run = (args: string[]): number => {
    const start = process.hrtime.bigint();
    const r = spawnSync('podman', ['run', '-d', ...args, 'bb:latest', 'sleep', '1000'], { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== 0) throw new Error(`podman run failed: ${r.stderr}`);
    spawnSync('podman', ['rm', '-f', '-t', '0', r.stdout.trim()]);
    return ms;
  };
  const out = { without: [] as number[], range: [] as number[] };
  for (let i = -1; i < SAMPLES; i++) {
    const without = run([]);
    const range = run(['-p', `${RANGE.first}-${RANGE.first + RANGE.size - 1}:${RANGE.first}-${RANGE.first + RANGE.size - 1}`]);
    if (i >= 0) {
      out.without.push(without);
      out.range.push(range);
    }
  }
  console.log(JSON.stringify(out));
}

if (process.argv.includes('--podman-client')) {
  podmanClient();
  process.exit(0);
}
if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:port-ranges');
  process.exit(1);
}

async function timed(socket: string, method: string, path: string, body?: unknown): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await call(socket, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function benchBerth(): Promise<{ without: number[]; range: number[]; big: number; pingDuringBig: number }> {
  const { socket, stop } = await startBenchDaemon('ranges');
  try {
    const runOnce = async (name: string, ports: ReturnType<typeof rangeBindings> | undefined): Promise<number> => {
      const body = { Cmd: ['sleep', '1000'], ...(ports ? { ExposedPorts: ports.ExposedPorts, HostConfig: { PortBindings: ports.PortBindings } } : {}) };
      const ms = (await timed(socket, 'POST', `/containers/create?name=${name}`, body)) + (await timed(socket, 'POST', `/containers/${name}/start`));
      await timed(socket, 'DELETE', `/containers/${name}?force=1`);
      return ms;
    };
    const out = { without: [] as number[], range: [] as number[], big: NaN, pingDuringBig: NaN };
    for (let i = -2; i < SAMPLES; i++) {
      const without = await runOnce(`w${i + 2}`, undefined);
      const range = await runOnce(`r${i + 2}`, rangeBindings(RANGE.first, RANGE.size));
      if (i >= 0) {
        out.without.push(without);
        out.range.push(range);
      }
    }
    // 10,000 ports, with a ping sent while the start is under way.
    const big = rangeBindings(30000, 10000);
    await timed(socket, 'POST', '/containers/create?name=big', { Cmd: ['sleep', '1000'], ExposedPorts: big.ExposedPorts, HostConfig: { PortBindings: big.PortBindings } });
    const started = timed(socket, 'POST', '/containers/big/start');
    await new Promise((r) => setTimeout(r, 20));
    out.pingDuringBig = await timed(socket, 'GET', '/_ping');
    out.big = await started;
    await timed(socket, 'DELETE', '/containers/big?force=1');
    return out;
  } finally {
    await stop();
  }
}

function benchPodman(): { without: number[]; range: number[] } | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/podman-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/bin/podman')) return 'not measured: needs ../shared/peers/podman-lab.sh and podman (scripts/setup.sh --with-peers)';
  const r = spawnSync(lab, ['env', `SAMPLES=${SAMPLES}`, process.execPath, fileURLToPath(import.meta.url), '--podman-client'], { encoding: 'utf8', timeout: 900_000, env: { ...process.env, NETAVARK_WRAP: '0' } });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-400)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { without: number[]; range: number[] };
}

console.log(`# publishing a ${RANGE.size}-port range: create+start with it minus without it, ${SAMPLES} interleaved samples, ms`);
const berth = await benchBerth();
const podman = process.argv.includes('--podman') ? benchPodman() : 'not measured (add --podman)';
const cost = (s: { without: number[]; range: number[] }) => s.range.map((r, i) => r - s.without[i]!);
const berthCost = cost(berth);
const podmanCost = typeof podman === 'string' ? [] : cost(podman);
printTable(
  ['engine', 'without p50', `${RANGE.size} ports p50`, 'added p50', 'added p95', 'ratio to berth'],
  [
    ['berth (API)', fmt(median(berth.without)), fmt(median(berth.range)), fmt(median(berthCost)), fmt(percentile(berthCost, 95)), '1.0'],
    typeof podman === 'string'
      ? ['podman 4.3 (CLI)', '—', '—', '—', '—', '—']
      : ['podman 4.3 (CLI)', fmt(median(podman.without)), fmt(median(podman.range)), fmt(median(podmanCost)), fmt(percentile(podmanCost, 95)), (median(podmanCost) / median(berthCost)).toFixed(1)],
  ],
);
console.log(`berth, 10,000 ports: create+start's start took ${fmt(berth.big)} ms; a /_ping sent 20 ms into it answered in ${fmt(berth.pingDuringBig)} ms`);
if (typeof podman === 'string') console.log(`podman: ${podman}`);
