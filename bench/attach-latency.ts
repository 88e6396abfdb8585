/**
 * Per-container network set-up latency on the default bridge, on the real kernel, for
 * both executors (in-process netlink, the default, and `ip -batch` processes):
 * attach = IPAM allocation + plan + apply (namespace, veth pair born in the namespace,
 * address, routes); teardown = apply the down plan + release. The same code paths
 * `berth run` / `berth rm` use, without the process start.
 *
 * It fills one bridge up to 500 containers and, at each level, measures SAMPLES extra
 * attach+teardown cycles on top, so growth with the bridge's population shows. With
 * --docker it also runs Docker 20.10 in its lab (../shared/peers/docker-lab.sh) and
 * reports `docker run` on the default bridge minus `--network none`, in the same run.
 *
 * Run inside the sandbox: npm run bench [-- --docker]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtinDrivers } from '../src/drivers/registry.js';
import { allocateEndpoint, attachmentsFor, releaseEndpoint } from '../src/engine/endpoints.js';
import { defaultBridgeRecord, NetworkTable, networkSpec } from '../src/engine/networks.js';
import { sandboxDownPlan, sandboxName, sandboxUpPlan } from '../src/engine/sandbox.js';
import { newId } from '../src/common/ids.js';
import { BatchExecutor, type Executor } from '../src/kernel/exec.js';
import { NetlinkExecutor } from '../src/kernel/netlink/executor.js';
import { hostLinkNames } from '../src/kernel/read.js';
import type { EndpointRecord } from '../src/engine/model.js';
import { fmt, median, percentile, printTable } from './stats.js';
import { DOCKER_DEFAULT_POOLS } from '../src/ipam/subnets.js';

if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench');
  process.exit(1);
}

const LEVELS = [1, 50, 100, 200, 300, 400, 500];
const SAMPLES = Number(process.env.SAMPLES ?? 50);
const EXECUTORS: [string, Executor][] = [
  ['netlink (default)', new NetlinkExecutor()],
  ['ip -batch', new BatchExecutor()],
];
let executor: Executor = EXECUTORS[0]![1];
const drivers = builtinDrivers();
const networks = new NetworkTable();
const network = defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, []);
networks.add(network);

interface Live {
  netns: string;
  endpoint: EndpointRecord;
}

const taken = new Set<string>();
async function attach(): Promise<Live> {
  const endpoint = allocateEndpoint(networks, { networkId: network.id, aliases: [] }, { ifname: 'eth0', gatewayEndpoint: true }, taken);
  taken.add(endpoint.hostIfname);
  const netns = sandboxName(newId());
  await executor.apply(sandboxUpPlan(netns, attachmentsFor(networks, drivers, [endpoint]), { createNetns: true }));
  return { netns, endpoint };
}

async function teardown(live: Live): Promise<void> {
  const links = new Set([live.endpoint.hostIfname]);
  await executor.apply(sandboxDownPlan(live.netns, attachmentsFor(networks, drivers, [live.endpoint]), { links, netns: new Set([live.netns]) }));
  releaseEndpoint(networks, live.endpoint);
  taken.delete(live.endpoint.hostIfname);
}

async function settled(hostIfname: string): Promise<void> {
  for (let i = 0; i < 200 && (await hostLinkNames()).has(hostIfname); i++) await new Promise((r) => setTimeout(r, 5));
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

async function benchBerth(): Promise<{ level: number; attach: number[]; teardown: number[]; total: number[] }[]> {
  await executor.apply([...drivers.get('bridge')!.createNetwork(networkSpec(network))]);
  const population: Live[] = [];
  const results = [];
  // Warm-up, untimed: first sockets, JIT, the kernel's first namespace of this bridge.
  for (let i = 0; i < 5; i++) {
    await teardown(await attach());
  }
  try {
    for (const level of LEVELS) {
      while (population.length < level - 1) population.push(await attach());
      const a: number[] = [];
      const t: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        let start = process.hrtime.bigint();
        const live = await attach();
        a.push(ms(start));
        start = process.hrtime.bigint();
        await teardown(live);
        t.push(ms(start));
        // The kernel finishes a namespace's teardown asynchronously; let it, untimed, so
        // each sample measures one container's set-up, not the previous one's cleanup.
        await settled(live.endpoint.hostIfname);
      }
      results.push({ level, attach: a, teardown: t, total: a.map((x, i) => x + t[i]!) });
      process.stderr.write(`  berth: ${level} containers on the bridge measured\n`);
    }
  } finally {
    for (const live of population) await teardown(live);
    await executor.apply([{ kind: 'link-del', dev: network.bridge }]);
  }
  return results;
}

/** Docker 20.10's network set-up: `docker run` on the default bridge minus `--network none`. */
function benchDocker(runs: number): { bridge: number[]; none: number[] } | string {
  const lab = fileURLToPath(new URL('../../../shared/peers/docker-lab.sh', import.meta.url));
  if (!existsSync(lab) || !existsSync('/usr/sbin/dockerd')) return 'not measured: needs ../shared/peers/docker-lab.sh and docker.io (scripts/setup.sh --with-peers)';
  const script = `docker run --rm bb true; for i in $(seq ${runs}); do for mode in bridge none; do s=$(date +%s%N); docker run --rm --network $mode bb true >/dev/null; e=$(date +%s%N); echo "$mode $(( (e-s)/1000 ))"; done; done`;
  // The lab makes its own private namespaces, nested inside this sandbox.
  const r = spawnSync(lab, ['bash', '-c', script], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return `failed: ${(r.stderr || r.stdout).slice(-400)}`;
  const bridge: number[] = [];
  const none: number[] = [];
  for (const line of r.stdout.split('\n')) {
    const [mode, us] = line.split(' ');
    if (mode === 'bridge') bridge.push(Number(us) / 1000);
    if (mode === 'none') none.push(Number(us) / 1000);
  }
  return { bridge, none };
}

const firstLevel: Record<string, number> = {};
for (const [name, chosen] of EXECUTORS) {
  executor = chosen;
  console.log(`# berth network set-up per container, executor ${name}, ${SAMPLES} samples per level, ms`);
  const berth = await benchBerth();
  firstLevel[name] = median(berth[0]!.total);
  printTable(
    ['containers on bridge', 'attach p50', 'attach p95', 'teardown p50', 'teardown p95', 'attach+teardown p50', 'p95', 'vs 1 container'],
    berth.map((r) => [
      String(r.level), fmt(median(r.attach)), fmt(percentile(r.attach, 95)), fmt(median(r.teardown)), fmt(percentile(r.teardown, 95)),
      fmt(median(r.total)), fmt(percentile(r.total, 95)), `${(median(r.total) / median(berth[0]!.total)).toFixed(2)}x`,
    ]),
  );
  console.log('');
}

if (process.argv.includes('--docker')) {
  const runs = Number(process.env.DOCKER_RUNS ?? 20);
  console.log(`\n# Docker 20.10 in the same run (docker-lab.sh), ${runs} runs per mode, ms`);
  const d = benchDocker(runs);
  if (typeof d === 'string') console.log(`docker: ${d}`);
  else {
    const dockerNet = median(d.bridge) - median(d.none);
    const ours = firstLevel['netlink (default)']!;
    printTable(
      ['engine', 'run default bridge p50', 'run --network none p50', 'network set-up p50', 'berth (netlink) attach+teardown p50', 'docker / berth'],
      [['docker 20.10', fmt(median(d.bridge)), fmt(median(d.none)), fmt(dockerNet), fmt(ours), `${(dockerNet / ours).toFixed(1)}x`]],
    );
  }
}
