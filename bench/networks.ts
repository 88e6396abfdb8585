/**
 * Network lifecycle latency through the Docker Engine API, berth and Docker 20.10 measured
 * by the same client: one Node process sending the same HTTP requests over the daemon's
 * unix socket (berth's API has Docker's paths and bodies, so nothing differs but the
 * daemon). Per sample, with one running container c1:
 *   POST /networks/create {Name}            a bridge network from the default pools
 *   POST /networks/{n}/connect {Container}  c1 gets one more interface
 *   POST /networks/{n}/disconnect           and loses it
 *   DELETE /networks/{n}
 * Run inside the sandbox: npm run bench:networks [-- --docker]
 * (`--client SOCKET` is the measuring half, run by the main half against each daemon.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { call } from './api-client.js';
import { fmt, median, percentile, printTable } from './stats.js';
import { startBenchDaemon } from './daemon.js';

const SAMPLES = Number(process.env.SAMPLES ?? 100);
const STEPS = ['create', 'connect', 'disconnect', 'rm'] as const;
type Step = (typeof STEPS)[number];
type Samples = Record<Step, number[]>;

async function timed(socketPath: string, method: string, path: string, body?: unknown): Promise<number> {
  const start = process.hrtime.bigint();
  const r = await call(socketPath, method, path, body);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return ms;
}

/** The measuring half: create/connect/disconnect/rm SAMPLES times against one daemon (after 3 untimed rounds). */
async function measure(socketPath: string): Promise<Samples> {
  const samples: Samples = { create: [], connect: [], disconnect: [], rm: [] };
  for (let i = -3; i < SAMPLES; i++) {
    const name = `bn${i + 3}`;
    const t = {
      create: await timed(socketPath, 'POST', '/networks/create', { Name: name }),
      connect: await timed(socketPath, 'POST', `/networks/${name}/connect`, { Container: 'c1' }),
      disconnect: await timed(socketPath, 'POST', `/networks/${name}/disconnect`, { Container: 'c1' }),
      rm: await timed(socketPath, 'DELETE', `/networks/${name}`),
    };
    if (i >= 0) for (const step of STEPS) samples[step].push(t[step]);
  }
  return samples;
}

const clientIndex = process.argv.indexOf('--client');
if (clientIndex >= 0) {
  console.log(JSON.stringify(await measure(process.argv[clientIndex + 1]!)));
  process.exit(0);
}

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:networks');
  process.exit(1);
}

async function benchBerth(): Promise<Samples> {
  const { socket, stop } = await startBenchDaemon('net');
  try {
    await timed(socket, 'POST', '/containers/create?name=c1', { Cmd: ['sleep', '1000'] });
    await timed(socket, 'POST', '/containers/c1/start');
    const samples = await measure(socket);
    await timed(socket, 'DELETE', '/containers/c1?force=1');
    return samples;
  } finally {
    await stop();
  }
}

function benchDocker(): Samples | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/docker-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/sbin/dockerd')) return 'not measured: needs ../shared/peers/docker-lab.sh and docker.io (scripts/setup.sh --with-peers)';
  const client = fileURLToPath(import.meta.url);
  const script = `docker run -d --name c1 bb sleep 1000 >/dev/null && SAMPLES=${SAMPLES} ${process.execPath} ${client} --client "\${DOCKER_HOST#unix://}"`;
  const r = spawnSync(lab, ['bash', '-c', script], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-400)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Samples;
}

console.log(`# network lifecycle through the Docker API, ${SAMPLES} samples per step, ms (same Node client for both daemons)`);
const berth = await benchBerth();
const docker = process.argv.includes('--docker') ? benchDocker() : 'not measured (add --docker)';
const rows = STEPS.map((step) => {
  const ours = median(berth[step]);
  const theirs = typeof docker === 'string' ? NaN : median(docker[step]);
  return [step, fmt(ours), fmt(percentile(berth[step], 95)), fmt(theirs), typeof docker === 'string' ? '—' : fmt(percentile(docker[step], 95)), Number.isFinite(theirs) ? `${(theirs / ours).toFixed(1)}x` : '—'];
});
printTable(['step', 'berth p50', 'berth p95', 'docker 20.10 p50', 'docker p95', 'docker / berth'], rows);
if (typeof docker === 'string') console.log(`docker: ${docker}`);
