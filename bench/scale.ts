/**
 * Many containers through the Docker Engine API: berth starts SCALE_BERTH (1,000) containers
 * on the default bridge, Docker 20.10 SCALE_DOCKER (200) in its lab
 * (../shared/peers/docker-lab.sh), each with the same client (this file's `--client` half:
 * POST /containers/create then /start per container, CONCURRENCY at a time, each lane on one
 * kept-alive connection, each container running static busybox's sleep: COMMAND), in the
 * same run.
 * It reports the total time of each, the ratio berth's 1,000 / Docker's 200 (part 11's aim:
 * ≤ 0.1), per-container p50/p95, and what the daemons hold at the end: the berth daemon's
 * RSS, and the per-container helper process of each (berth's berth-init, Docker's
 * containerd-shim) by RSS and PSS (PSS shares a page among the processes mapping it).
 * Removal (DELETE ?force=1) is timed too, and so is the floor of the process model: the
 * same number of containers' processes alone, started by the daemon's launch code (processFloor).
 * It also reports the machine's busy CPU time while each engine started its containers
 * (quiet.ts's busyCpuSeconds): the work the starts cost, which varies less between runs
 * than their wall-clock time on this VM. And the berth daemon's own CPU time meanwhile, its
 * main thread's apart with the time that thread waited for a core (process-cpu.ts): whether
 * the one thread that runs every request's JavaScript is the starts' critical path.
 * Each timed part begins once the CPUs are idle (quiet.ts): not while the kernel still frees
 * what an earlier bench, or the part before, left (berth's 1,000 namespaces before Docker's
 * 200 start, for one).
 * Run inside the sandbox: npm run bench:scale [-- --docker]
 */
import { spawnSync } from 'node:child_process';
import { Agent } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchContainer, signalContainer } from '../src/kernel/process.js';
import { openMountTemplate } from '../src/kernel/mount-template.js';
import { findLaunchTools } from '../src/kernel/launch-tools.js';
import { ContainerLauncher } from '../src/kernel/launcher.js';
import { fileURLToPath } from 'node:url';
import { call } from './api-client.js';
import { startBenchDaemon } from './daemon.js';
import { fmt, median, percentile, printTable } from './stats.js';
import { busyCpuSeconds, waitForQuietCpus } from './quiet.js';
import { processCpu, processCpuSince, type ProcessCpu } from './process-cpu.js';

const SCALE_BERTH = Number(process.env.SCALE_BERTH ?? 1000);
const SCALE_DOCKER = Number(process.env.SCALE_DOCKER ?? 200);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
/**
 * Every container runs the same program on both sides: static busybox's `sleep`. Docker's
 * image is busybox-static's rootfs (the lab's bb), where `sleep` is busybox; berth runs the
 * host's commands, where `sleep` is coreutils', dynamically linked, whose loader alone cost
 * ~1 ms more per container on this VM.
 */
const COMMAND = { berth: ['busybox', 'sleep', '100000'], docker: ['sleep', '100000'] } as const;

/** Memory is read with every container running and the engine idle this long (berth's namespace pool thread ends after 2 s without a start). */
const SETTLE_MS = 3000;

interface Run {
  readonly totalS: number;
  readonly startMs: number[];
  readonly removeS: number;
  /** Resident memory with every container running, SETTLE_MS after the last start, by what holds it (kB). */
  readonly memory: Record<string, { count: number; rssKb: number; pssKb: number }>;
  /** The same right after the last start (threads that help with starts still there). */
  readonly memoryAtOnce: Record<string, { count: number; rssKb: number; pssKb: number }>;
  /** How long the client waited for idle CPUs before its first start (waitForQuietCpus). */
  readonly quietAfterS: number;
  /** The machine's busy CPU time while the containers started (busyCpuSeconds), this client included. */
  readonly busyCpuS: number;
  /** berth's only: its daemon's CPU time while the containers started (process-cpu.ts). */
  readonly daemonCpu?: ProcessCpu;
}

async function ok(agent: Agent, socket: string, method: string, path: string, body?: unknown): Promise<void> {
  const r = await call(socket, method, path, body, agent);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
}

/** Runs `work(i)` for i < count, `concurrency` at a time. */
async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await work(next++);
  }));
}

/** The client half: start `count` containers of `image` on `socket`, measure what is running, remove them. */
async function client(socket: string, count: number, image: string | undefined, command: readonly string[], memoryOf: () => Run['memory'], daemonPid?: number): Promise<Run> {
  const startMs: number[] = [];
  // One kept-alive connection per lane, as an API client keeps its own (docker-py's session).
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const quietAfterS = await waitForQuietCpus();
  const began = process.hrtime.bigint();
  const busyBefore = busyCpuSeconds();
  const daemonBefore = daemonPid === undefined ? undefined : processCpu(daemonPid);
  await inParallel(count, CONCURRENCY, async (i) => {
    const t = process.hrtime.bigint();
    await ok(agent, socket, 'POST', `/containers/create?name=scale${i}`, { ...(image ? { Image: image } : {}), Cmd: command });
    await ok(agent, socket, 'POST', `/containers/scale${i}/start`);
    startMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  });
  const totalS = Number(process.hrtime.bigint() - began) / 1e9;
  const busyCpuS = busyCpuSeconds() - busyBefore;
  const daemonCpu = daemonPid === undefined || daemonBefore === undefined ? undefined : processCpuSince(daemonBefore, processCpu(daemonPid));
  const memoryAtOnce = memoryOf();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const memory = memoryOf();
  const removing = process.hrtime.bigint();
  await inParallel(count, CONCURRENCY, (i) => ok(agent, socket, 'DELETE', `/containers/scale${i}?force=1`));
  agent.destroy();
  return { totalS, startMs, removeS: Number(process.hrtime.bigint() - removing) / 1e9, memory, memoryAtOnce, quietAfterS, busyCpuS, ...(daemonCpu ? { daemonCpu } : {}) };
}

/** RSS and PSS (kB) of each process whose command line matches, summed by label. */
function memoryOfProcesses(labels: Record<string, (cmdline: string, pid: number) => boolean>): Run['memory'] {
  const out: Run['memory'] = {};
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline: string;
    let rollup: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      rollup = readFileSync(`/proc/${entry}/smaps_rollup`, 'utf8');
    } catch {
      continue; // gone, or a kernel thread
    }
    for (const [label, matches] of Object.entries(labels)) {
      if (!matches(cmdline, Number(entry))) continue;
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
      const m = (out[label] ??= { count: 0, rssKb: 0, pssKb: 0 });
      m.count++;
      m.rssKb += kb('Rss');
      m.pssKb += kb('Pss');
    }
  }
  // A matcher that no longer matches (a changed command line) must not drop its row unseen.
  const unmatched = Object.keys(labels).filter((label) => out[label] === undefined);
  if (unmatched.length > 0) throw new Error(`bench: no process matched ${unmatched.join(', ')}`);
  return out;
}

if (process.argv[2] === '--client') {
  // Inside the Docker lab: Docker's side, printed as one JSON line.
  const run = await client(process.argv[3]!, SCALE_DOCKER, 'bb', COMMAND.docker, () =>
    memoryOfProcesses({ dockerd: (c) => c.startsWith('dockerd '), containerd: (c) => c.startsWith('containerd '), 'containerd-shim (per container)': (c) => c.startsWith('/usr/bin/containerd-shim') }),
  );
  console.log(JSON.stringify(run));
  process.exit(0);
}

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:scale');
  process.exit(1);
}

async function benchBerth(): Promise<Run> {
  const daemon = await startBenchDaemon('scale');
  try {
    return await client(daemon.socket, SCALE_BERTH, undefined, COMMAND.berth, () =>
      memoryOfProcesses({
        'berth daemon': (_c, pid) => pid === daemon.pid,
        // The daemon's one launcher (native/launcher.c), and each container's first process
        // (native/berth-init.c, forked by it), which stays as its command's parent.
        'berth-init launcher': (c) => c.split(' ').slice(0, 2).join(' ').endsWith('/berth-init --launcher'),
        'berth-init (per container)': (c) => c.startsWith('berth-init '),
      }),
      daemon.pid,
    );
  } finally {
    await daemon.stop();
  }
}

function benchDocker(): Run | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/docker-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/sbin/dockerd')) return 'not measured: needs ../shared/peers/docker-lab.sh and docker.io (scripts/setup.sh --with-peers)';
  const script = `SCALE_DOCKER=${SCALE_DOCKER} CONCURRENCY=${CONCURRENCY} ${process.execPath} ${fileURLToPath(import.meta.url)} --client "\${DOCKER_HOST#unix://}"`;
  const r = spawnSync(lab, ['bash', '-c', script], { encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-400)}`;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Run;
}

/**
 * The floor of this process model: `count` containers' processes alone, started with the
 * daemon's own launch code (kernel/process.ts: a launcher forks berth-init, which enters the
 * containers' mount template and mounts the container's files, then runs the command), CONCURRENCY at a
 * time from this small process, in the host's network namespace, with no network, no API
 * and no records. Seconds.
 */
async function processFloor(count: number): Promise<number> {
  // On /run's tmpfs: the floor is the processes' cost, not this VM's disk (a new file on its
  // ext4 takes 0.4-0.9 ms, more for minutes after many files were deleted).
  const dir = mkdtempSync('/run/berth-bench-floor-');
  const pids: number[] = [];
  const mountTemplate = await openMountTemplate();
  const launcher = new ContainerLauncher(findLaunchTools().init, mountTemplate.fd);
  try {
    writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    await waitForQuietCpus();
    const began = process.hrtime.bigint();
    await inParallel(count, CONCURRENCY, async (i) => {
      const own = join(dir, String(i));
      mkdirSync(own);
      const launched = await launchContainer({
        netns: '', launcher, hostname: `floor${i}`, hostsFile: join(dir, 'hosts'), resolvConfFile: join(dir, 'resolv.conf'), command: COMMAND.berth, env: [],
        stdoutPath: join(own, 'out'), stderrPath: join(own, 'err'), exitCodePath: join(own, 'exit'), mountTablePath: join(own, 'mounts'), hidden: { directories: [], files: [] },
      });
      pids.push(launched.pid);
      await launched.setUp;
    });
    return Number(process.hrtime.bigint() - began) / 1e9;
  } finally {
    for (const pid of pids) signalContainer(pid, 'SIGKILL');
    launcher.close();
    mountTemplate.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// First: the kernel is still freeing the namespaces of berth's run for a while after it.
const floorS = await processFloor(SCALE_BERTH);
const berth = await benchBerth();
const docker = process.argv.includes('--docker') ? benchDocker() : 'not measured (add --docker)';
console.log(`# containers started through the API (create + start, ${CONCURRENCY} at a time, the same client), on the default bridge; berth ${SCALE_BERTH}, Docker 20.10 ${SCALE_DOCKER}`);
const row = (name: string, count: number, r: Run) => [name, String(count), r.totalS.toFixed(1), fmt(median(r.startMs)), fmt(percentile(r.startMs, 95)), r.removeS.toFixed(1)];
printTable(
  ['engine', 'containers', 'all started, s', 'per container p50, ms', 'p95, ms', 'all removed, s'],
  [row('berth', SCALE_BERTH, berth), ...(typeof docker === 'string' ? [] : [row('docker 20.10', SCALE_DOCKER, docker)])],
);
console.log(`each began once the CPUs were idle (90% over 1 s): berth after ${berth.quietAfterS.toFixed(0)} s${typeof docker === 'string' ? '' : `, Docker after ${docker.quietAfterS.toFixed(0)} s`}`);
if (typeof docker === 'string') console.log(`docker: ${docker}`);
else console.log(`berth's ${SCALE_BERTH} / Docker's ${SCALE_DOCKER}: ${(berth.totalS / docker.totalS).toFixed(3)}x the time`);
const cpu = (name: string, count: number, r: Run) => `${name} ${r.busyCpuS.toFixed(1)} s (${((r.busyCpuS / count) * 1000).toFixed(1)} ms per container)`;
console.log(`the machine's busy CPU time while they started (every process and the kernel, both cores): ${cpu('berth', SCALE_BERTH, berth)}${typeof docker === 'string' ? '' : `, ${cpu('Docker', SCALE_DOCKER, docker)}`}`);
if (berth.daemonCpu) {
  // Whether the daemon's one event-loop thread is the starts' critical path: its share of the wall-clock time on a core or waiting for one.
  const { all, mainThread, mainThreadWaitingS } = berth.daemonCpu;
  const onCore = mainThread.user + mainThread.kernel;
  const waiting = mainThreadWaitingS === undefined ? '' : `, waiting for a core ${mainThreadWaitingS.toFixed(1)} s (together ${(((onCore + mainThreadWaitingS) / berth.totalS) * 100).toFixed(0)}% of the ${berth.totalS.toFixed(1)} s)`;
  console.log(
    `the berth daemon's CPU time while they started: its main thread on a core ${onCore.toFixed(1)} s (user ${mainThread.user.toFixed(1)}, kernel ${mainThread.kernel.toFixed(1)})${waiting}; ` +
      `its other threads ${(all.user + all.kernel - onCore).toFixed(1)} s (V8's compilers and collectors, the namespace pool's thread, libuv's pool)`,
  );
}
const floorRatio = typeof docker === 'string' ? '' : ` = ${(floorS / docker.totalS).toFixed(3)}x Docker's ${SCALE_DOCKER}`;
console.log(`the processes alone (berth-init and the command; no network, no API; files on tmpfs), ${SCALE_BERTH}, ${CONCURRENCY} at a time: ${floorS.toFixed(1)} s${floorRatio}`);
console.log('');
console.log(`# memory held with every container running, ${SETTLE_MS / 1000} s after the last start, by process (MB)`);
const memoryRows = (name: string, count: number, r: Run) =>
  Object.entries(r.memory).map(([what, m]) => [name, what, String(m.count), (m.rssKb / 1024).toFixed(1), (m.pssKb / 1024).toFixed(1), m.count > 1 ? (m.pssKb / 1024 / count).toFixed(2) : '—']);
printTable(['engine', 'process', 'count', 'RSS', 'PSS', 'PSS per container'], [...memoryRows('berth', SCALE_BERTH, berth), ...(typeof docker === 'string' ? [] : memoryRows('docker 20.10', SCALE_DOCKER, docker))]);
const daemonAtOnce = berth.memoryAtOnce['berth daemon'];
if (daemonAtOnce) console.log(`berth daemon right after the last start: RSS ${(daemonAtOnce.rssKb / 1024).toFixed(1)} MB, PSS ${(daemonAtOnce.pssKb / 1024).toFixed(1)} MB`);
