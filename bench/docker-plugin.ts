/**
 * Part 8: per-container network set-up under dockerd, berth's plugin against dockerd's own
 * bridge driver, in one run on one dockerd (Debian's 20.10, started as
 * ../shared/peers/docker-lab.sh starts one: private data root, exec root, socket, cgroup
 * parent; test/world/dockerd.ts) beside a berth daemon serving it as its plugin.
 *  - `docker run -d` on a network of dockerd's bridge driver, on a berth network
 *    (-d berth --ipam-driver berth), and with --network none (no network at all);
 *  - `docker rm -f` of each;
 * rounds interleave the three so drift hits all alike. "network" is the median minus the
 * --network none median: what the network costs a container, the rest is dockerd and runc.
 *
 * Run: npm run bench:docker-plugin   (SAMPLES=30 for more)
 */
import { performance } from 'node:perf_hooks';
import { Dockerd } from '../test/world/dockerd.js';
import { World } from '../test/world/world.js';
import { fmt, median, printTable } from './stats.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:docker-plugin');
  process.exit(2);
}

const SAMPLES = Number(process.env.SAMPLES ?? 15);
const CASES = [
  { name: "dockerd's bridge driver", network: 'dockerbr' },
  { name: "berth's plugin (-d berth)", network: 'berthbr' },
  { name: '--network none', network: 'none' },
] as const;

const w = await World.create({ withoutDaemon: true });
const plugins = `${w.dir}/plugins`;
let docker: Dockerd | undefined;
try {
  const failed = await w.startDaemon(['--docker-plugins', plugins]);
  if (failed) throw new Error(`berth daemon did not start: ${failed.stdout}`);
  docker = await Dockerd.start(w.host, `${w.dir}/dockerd`, plugins);
  await docker.dockerOk('network', 'create', '-d', 'bridge', '--subnet', '10.91.0.0/24', 'dockerbr');
  await docker.dockerOk('network', 'create', '-d', 'berth', '--ipam-driver', 'berth', '--subnet', '10.92.0.0/24', 'berthbr');
  const runs = new Map<string, number[]>(CASES.map((c) => [c.network, []]));
  const removes = new Map<string, number[]>(CASES.map((c) => [c.network, []]));
  const timed = async (samples: number[], ...args: string[]) => {
    const start = performance.now();
    await docker!.dockerOk(...args);
    samples.push(performance.now() - start);
  };
  // One warm-up round each: the first use of a plugin includes dockerd finding its socket.
  for (let round = -1; round < SAMPLES; round++) {
    for (const c of CASES) {
      const name = `b-${c.network}-${round + 1}`;
      const run = ['run', '-d', '--name', name, '--network', c.network, 'bb', 'sleep', '600'];
      const rm = ['rm', '-f', name];
      if (round < 0) {
        await docker.dockerOk(...run);
        await docker.dockerOk(...rm);
        continue;
      }
      await timed(runs.get(c.network)!, ...run);
      await timed(removes.get(c.network)!, ...rm);
    }
  }
  const none = { run: median(runs.get('none')!), rm: median(removes.get('none')!) };
  const rows = CASES.map((c) => {
    const run = median(runs.get(c.network)!);
    const rm = median(removes.get(c.network)!);
    return [c.name, fmt(run), fmt(run - none.run), fmt(rm), fmt(rm - none.rm)];
  });
  console.log(`Docker 20.10 (${SAMPLES} samples each, interleaved): docker run -d / docker rm -f, medians in ms; "network" = minus --network none`);
  printTable(['network driver', 'run -d p50', 'run: network', 'rm -f p50', 'rm: network'], rows);
  const setUp = (n: string) => median(runs.get(n)!) - none.run;
  const tearDown = (n: string) => median(removes.get(n)!) - none.rm;
  console.log(`ratio dockerd bridge / berth plugin: run -d ${(median(runs.get('dockerbr')!) / median(runs.get('berthbr')!)).toFixed(2)}x, ` +
    `network set-up ${(setUp('dockerbr') / setUp('berthbr')).toFixed(2)}x, rm -f ${(median(removes.get('dockerbr')!) / median(removes.get('berthbr')!)).toFixed(2)}x, network teardown ${(tearDown('dockerbr') / tearDown('berthbr')).toFixed(2)}x`);
} finally {
  await docker?.stop();
  await w.dispose();
}
