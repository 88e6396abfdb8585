/**
 * What a person waits for before the daemon is even asked: the CLI's own start-up, beside
 * Node's floor (`node -e 0`) and the other engines' CLIs, in the same run, interleaved
 * (each round runs every command once, so machine noise hits them alike).
 *   node -e 0                    the floor: a Node process that does nothing
 *   berth --version              the CLI's start-up alone
 *   berth ps / network ls        start-up plus one API round trip to a live daemon (in the sandbox)
 *   docker --version, podman --version   where installed (client start-up only; no engine needed)
 * Run inside the sandbox: npm run bench:cli   (SAMPLES=N, default 30)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fmt, median, percentile, printTable } from './stats.js';
import { BERTH_BIN, startBenchDaemon } from './daemon.js';

const SAMPLES = Number(process.env.SAMPLES ?? 30);


if (process.env.BERTH_SANDBOX !== '1') {
  console.error('bench: run it inside the sandbox: npm run bench:cli');
  process.exit(1);
}

function which(tool: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const { socket, stop } = await startBenchDaemon('cli');

const commands: [string, string, string[]][] = [
  ['node -e 0', process.execPath, ['-e', '0']],
  ['berth --version', process.execPath, [BERTH_BIN, '--version']],
  ['berth ps', process.execPath, [BERTH_BIN, '-H', `unix://${socket}`, 'ps']],
  ['berth network ls', process.execPath, [BERTH_BIN, '-H', `unix://${socket}`, 'network', 'ls']],
];
for (const tool of ['docker', 'podman']) {
  const path = which(tool);
  if (path && existsSync(path)) commands.push([`${tool} --version`, path, ['--version']]);
  else console.log(`(${tool} is not installed: its row is left out)`);
}

const samples = new Map<string, number[]>(commands.map(([label]) => [label, []]));
for (let round = -2; round < SAMPLES; round++) {
  for (const [label, file, args] of commands) {
    const start = process.hrtime.bigint();
    const r = spawnSync(file, args, { stdio: 'ignore' });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== 0) throw new Error(`${label} exited with ${r.status}`);
    if (round >= 0) samples.get(label)!.push(ms);
  }
}
await stop();

const floor = median(samples.get('node -e 0')!);
printTable(
  ['command', 'median ms', 'p95 ms', 'x node -e 0'],
  commands.map(([label]) => {
    const s = samples.get(label)!;
    return [label, fmt(median(s)), fmt(percentile(s, 95)), (median(s) / floor).toFixed(2)];
  }),
);
