/**
 * Part 9: how long drift lasts. A berth daemon with a running container (a published port
 * on the default bridge); each kind of drift is made by hand, then the kernel is polled
 * (every ~5 ms) until it is repaired: from the breaking command's return to the repaired
 * state, p50 and p95 over SAMPLES, at --repair-interval 1000, 500 (the default) and 250 ms.
 * Docker 20.10 repairs none of these while it runs (they last until dockerd restarts), so
 * there is no side-by-side figure: its value is "never".
 *
 * Run: npm run bench:drift   (SAMPLES=20 for more)
 */
import { performance } from 'node:perf_hooks';
import { must, run, sleep, World } from '../test/world/world.js';
import { fmt, percentile, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:drift');
  process.exit(2);
}

const SAMPLES = Number(process.env.SAMPLES ?? 10);
const TIMEOUT_MS = 10_000;

/** The container the drift is made around: its host-side veth and its process (for its namespace). */
interface Target {
  readonly veth: string;
  readonly pid: string;
}

interface DriftKind {
  readonly name: string;
  readonly breakIt: (w: World, target: Target) => Promise<unknown>;
  readonly repaired: (w: World, target: Target) => Promise<boolean>;
}

const inHost = (w: World, ...cmd: string[]) => run('ip', ['netns', 'exec', w.host, ...cmd]);
const linkJson = async (w: World, name: string): Promise<{ operstate?: string; master?: string; flags?: string[] } | undefined> => {
  const r = await run('ip', ['-n', w.host, '-j', 'link', 'show', name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { operstate?: string; master?: string; flags?: string[] }[])[0] : undefined;
};

const KINDS: readonly DriftKind[] = [
  {
    name: 'nft flush ruleset',
    breakIt: (w) => must('ip', ['netns', 'exec', w.host, 'nft', 'flush', 'ruleset']),
    repaired: async (w) => (await inHost(w, 'nft', 'list', 'map', 'ip', 'berth', 'pub_any')).stdout.includes(': '),
  },
  {
    name: 'ip link del berth0',
    breakIt: (w) => must('ip', ['-n', w.host, 'link', 'del', 'berth0']),
    repaired: async (w, { veth }) => (await linkJson(w, veth))?.master === 'berth0',
  },
  {
    name: "a container's veth deleted",
    breakIt: (w, { veth }) => must('ip', ['-n', w.host, 'link', 'del', veth]),
    repaired: async (w, { veth }) => (await linkJson(w, veth))?.master === 'berth0',
  },
  {
    name: "a container's veth set down",
    breakIt: (w, { veth }) => must('ip', ['-n', w.host, 'link', 'set', veth, 'down']),
    repaired: async (w, { veth }) => (await linkJson(w, veth))?.flags?.includes('UP') === true,
  },
  {
    name: "a container's default route deleted",
    breakIt: (w, { pid }) => must('ip', ['netns', 'exec', w.host, 'nsenter', '-t', pid, '-n', 'ip', 'route', 'del', 'default']),
    repaired: async (w, { pid }) => (await inHost(w, 'nsenter', '-t', pid, '-n', 'ip', 'route', 'show', 'default')).stdout.includes('via'),
  },
  {
    name: "a container's address flushed",
    breakIt: (w, { pid }) => must('ip', ['netns', 'exec', w.host, 'nsenter', '-t', pid, '-n', 'ip', 'addr', 'flush', 'dev', 'eth0']),
    // The address and the default route the flush took with it.
    repaired: async (w, { pid }) => (await inHost(w, 'nsenter', '-t', pid, '-n', 'ip', 'route', 'show', 'default')).stdout.includes('via'),
  },
];

async function measure(intervalMs: number): Promise<string[][]> {
  const w = await World.create({ repairIntervalMs: intervalMs });
  try {
    await w.berthOk('run', '-d', '--name', 'c', '-p', '1180:5000', '--', 'sleep', '3600');
    const target: Target = {
      veth: (await w.berthOk('inspect', '-f', '{{.NetworkSettings.Networks.bridge.BerthHostInterface}}', 'c')).trim(),
      pid: (await w.berthOk('inspect', '-f', '{{.State.Pid}}', 'c')).trim(),
    };
    const rows: string[][] = [];
    for (const kind of KINDS) {
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        // Start each sample at a different point of the repair period.
        await sleep(Math.random() * intervalMs);
        await kind.breakIt(w, target);
        const start = performance.now();
        while (!(await kind.repaired(w, target))) {
          if (performance.now() - start > TIMEOUT_MS) throw new Error(`${kind.name}: not repaired within ${TIMEOUT_MS} ms`);
          await sleep(5);
        }
        samples.push(performance.now() - start);
      }
      rows.push([kind.name, String(intervalMs), fmt(percentile(samples, 50)), fmt(percentile(samples, 95))]);
    }
    return rows;
  } finally {
    await w.dispose();
  }
}

const rows = [...(await measure(1000)), ...(await measure(500)), ...(await measure(250))];
console.log(`drift repair latency, ${SAMPLES} samples per kind: from the breaking command's return until repaired, ms`);
printTable(['drift', '--repair-interval ms', 'p50', 'p95'], rows);
