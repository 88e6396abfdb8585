/**
 * dnsperf (DNS-OARC's load generator, Debian's package) run inside a container's
 * namespace against one server, parsed. Two runs per measurement: one for throughput
 * (dnsperf's own figures), one with `-v` for the latency of every answer (dnsperf prints an
 * average, not percentiles), so printing does not slow the throughput run. dnsperf writes to
 * a file, not a pipe: reading a verbose run's ~150k lines a second through a pipe took this
 * process a quarter of a CPU while the latencies were measured, on a 2-core machine.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { median, percentile } from './stats.js';

export const DNSPERF = '/usr/bin/dnsperf';
/** dnsperf's default: queries in flight at once. */
const IN_FLIGHT = 100;
const QUERY_TIMEOUT_S = 2;

export interface DnsLoad {
  readonly qps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly completed: number;
  readonly lost: number;
}

interface Run {
  readonly stdout: string;
}

function dnsperf(netns: string, server: string, names: readonly string[], seconds: number, verbose: boolean): Run {
  const data = `/tmp/berth-bench-dnsperf-${process.pid}.txt`;
  const output = `/tmp/berth-bench-dnsperf-${process.pid}.out`;
  writeFileSync(data, names.map((n) => `${n} A`).join('\n') + '\n');
  const outputFd = openSync(output, 'w');
  try {
    const args = ['netns', 'exec', netns, DNSPERF, '-s', server, '-d', data, '-l', String(seconds), '-q', String(IN_FLIGHT), '-t', String(QUERY_TIMEOUT_S), ...(verbose ? ['-v'] : [])];
    const r = spawnSync('ip', args, { encoding: 'utf8', timeout: (seconds + 30) * 1000, stdio: ['ignore', outputFd, 'pipe'] });
    const stdout = readFileSync(output, 'utf8');
    if (r.status !== 0) throw new Error(`dnsperf against ${server}: ${r.stderr || stdout}`);
    return { stdout };
  } finally {
    closeSync(outputFd);
    rmSync(data, { force: true });
    rmSync(output, { force: true });
  }
}

function figure(stdout: string, label: string): number {
  const m = new RegExp(`${label}:\\s+([0-9.]+)`).exec(stdout);
  if (!m) throw new Error(`dnsperf printed no "${label}":\n${stdout.slice(-2000)}`);
  return Number(m[1]);
}

/** Latencies in ms of the answers a `-v` run printed: `> NOERROR c1 A 0.000123`. */
function latenciesMs(stdout: string): number[] {
  const out: number[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('> ')) continue;
    const seconds = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(seconds)) out.push(seconds * 1000);
  }
  return out;
}

/** Throughput over `seconds`, then the latency distribution over a shorter verbose run. */
export function measureDns(netns: string, server: string, names: readonly string[], seconds: number): DnsLoad {
  const throughput = dnsperf(netns, server, names, seconds, false).stdout;
  const latencies = latenciesMs(dnsperf(netns, server, names, Math.max(1, Math.round(seconds / 2)), true).stdout);
  if (latencies.length === 0) throw new Error(`dnsperf -v against ${server} printed no answers`);
  return {
    qps: Math.round(figure(throughput, 'Queries per second')),
    p50Ms: median(latencies),
    p99Ms: percentile(latencies, 99),
    completed: figure(throughput, 'Queries completed'),
    lost: figure(throughput, 'Queries lost'),
  };
}

/**
 * Waits until `server` answers `name` (a few queries over one second, up to `tries` times):
 * a resolver that daemonizes before it listens (aardvark-dns with 1,000 names) would
 * otherwise lose the first second of a measurement.
 */
export function waitForAnswers(netns: string, server: string, name: string, tries = 15): void {
  for (let i = 0; i < tries; i++) {
    if (figure(dnsperf(netns, server, [name], 1, false).stdout, 'Queries completed') > 0) return;
  }
  throw new Error(`${server} answered no query for ${name} in ${tries} s`);
}

/** Whether dnsperf is installed (scripts/setup.sh --with-peers). */
export function haveDnsperf(): boolean {
  return existsSync(DNSPERF);
}
