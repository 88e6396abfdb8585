/**
 * Every bench, one after another, each in a sandbox of its own (scripts/sandbox.sh: what
 * one bench's daemons leave cannot touch the next), each beside its peer where it has one
 * (Docker 20.10 through ../shared/peers/docker-lab.sh, Podman and aardvark-dns through
 * podman-lab.sh or Debian's package), and each one's output written into
 * docs/benchmarks.md between its section's markers, with the date: so every figure there
 * can be measured again with one command.
 *
 * Run: npm run bench:all   (as root: each bench makes its sandbox)
 *   BENCH_ONLY=networks,dns   only these (names below)
 *   BENCH_WRITE=0             print, do not write docs/benchmarks.md
 * The benches' own knobs (SAMPLES, LEVELS, HOSTS, ...) pass through to every bench.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Bench {
  /** Its marker in docs/benchmarks.md: <!-- bench:NAME --> ... <!-- /bench:NAME -->. */
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
}

const BENCHES: readonly Bench[] = [
  { name: 'attach', script: 'attach-latency.js', args: ['--docker'] },
  { name: 'ports', script: 'ports.js', args: ['--docker'] },
  { name: 'networks', script: 'networks.js', args: ['--docker'] },
  { name: 'dns', script: 'dns.js', args: [] },
  { name: 'port-ranges', script: 'port-ranges.js', args: ['--podman'] },
  { name: 'cli', script: 'cli-startup.js', args: [] },
  { name: 'overlay', script: 'overlay.js', args: ['--docker'] },
  { name: 'docker-plugin', script: 'docker-plugin.js', args: [] },
  { name: 'drift', script: 'drift.js', args: [] },
  { name: 'web', script: 'web-topology.js', args: [] },
  { name: 'scale', script: 'scale.js', args: ['--docker'] },
];

const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
const SANDBOX = fileURLToPath(new URL('../../scripts/sandbox.sh', import.meta.url));

const only = process.env.BENCH_ONLY?.split(',').filter(Boolean);
const unknown = (only ?? []).filter((name) => !BENCHES.some((b) => b.name === name));
if (unknown.length > 0) {
  console.error(`bench:all: no bench named ${unknown.join(', ')}; the names are ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}

/** Runs one bench, its output shown as it comes and kept. */
function runBench(bench: Bench): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(SANDBOX, [process.execPath, fileURLToPath(new URL(bench.script, import.meta.url)), ...bench.args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, output, seconds: (Date.now() - started) / 1000 }));
  });
}

/** docs/benchmarks.md with `output` between the bench's markers; undefined when it has none. */
function withResult(docs: string, bench: Bench, output: string, date: string): string | undefined {
  const begin = `<!-- bench:${bench.name} -->`;
  const end = `<!-- /bench:${bench.name} -->`;
  const from = docs.indexOf(begin);
  const to = docs.indexOf(end);
  if (from < 0 || to < from) return undefined;
  const block = [begin, '', `Last measured by \`npm run bench:all\` on ${date}:`, '', '```', output.trimEnd(), '```', '', ''].join('\n');
  return docs.slice(0, from) + block + docs.slice(to);
}

const date = new Date().toISOString().slice(0, 10);
const failed: string[] = [];
for (const bench of BENCHES.filter((b) => !only || only.includes(b.name))) {
  console.log(`\n### bench:all: ${bench.name} (${bench.script} ${bench.args.join(' ')})`);
  const result = await runBench(bench);
  console.log(`### bench:all: ${bench.name} ${result.code === 0 ? 'done' : `failed (exit ${result.code})`} in ${result.seconds.toFixed(0)} s`);
  if (result.code !== 0) {
    failed.push(bench.name);
    continue;
  }
  if (process.env.BENCH_WRITE === '0') continue;
  // Read and written per bench: a run cut short keeps what it measured.
  const docs = withResult(readFileSync(DOCS, 'utf8'), bench, result.output, date);
  if (docs === undefined) console.log(`### bench:all: docs/benchmarks.md has no <!-- bench:${bench.name} --> markers: printed only`);
  else writeFileSync(DOCS, docs);
}
if (failed.length > 0) {
  console.error(`bench:all: ${failed.join(', ')} failed; their sections were left as they were`);
  process.exit(1);
}
