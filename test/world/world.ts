import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A private world for integration tests, built inside the sandbox that scripts/sandbox.sh
 * makes (never the machine's own namespace):
 *
 *   netns "h-<id>" (the host berth runs on)          netns "o-<id>" (an outside host)
 *     uplink0 198.51.100.1/24  <---- veth ---->        wan0 198.51.100.254/24
 *     default via 198.51.100.254
 *     berth0 + containers (berth-* namespaces)
 *
 * Each world runs its own daemon (its own data and exec roots) inside the host netns.
 */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const BERTH_BIN = join(REPO, 'bin/berth');
export const UPLINK_IP = '198.51.100.1';
export const OUTSIDE_IP = '198.51.100.254';

export interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Integration tests need the sandbox; outside it they skip instead of touching this machine. */
export const sandboxSkip: string | false = process.env.BERTH_SANDBOX === '1' ? false : 'needs the private sandbox: run `npm test` (scripts/sandbox.sh)';

export function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function must(cmd: string, args: readonly string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

export interface WorldOptions {
  /** Extra daemon flags, e.g. ['--bip', '10.99.0.1/24']. */
  readonly daemonArgs?: readonly string[];
  /** A different entry point for the daemon (test-only composition roots). */
  readonly daemonEntry?: readonly string[];
  /** Build the hosts only; the test starts (and stops) a daemon its own way. */
  readonly withoutDaemon?: boolean;
  /**
   * The daemon's drift repair interval in ms. Off (0) unless a test asks: the tests that
   * break the kernel by hand and restart the daemon test the repair at start, which a
   * repair in between would take away from them.
   */
  readonly repairIntervalMs?: number;
}

export class World {
  readonly id = randomBytes(3).toString('hex');
  readonly host = `h-${this.id}`;
  readonly outside = `o-${this.id}`;
  readonly dir = `/tmp/berth-world-${this.id}`;
  readonly socket = `${this.dir}/exec/berth.sock`;
  private daemon: ChildProcess | undefined;
  daemonOutput = '';

  private constructor(private readonly options: WorldOptions) {}

  static async create(options: WorldOptions = {}): Promise<World> {
    const w = new World(options);
    await mkdir(w.dir, { recursive: true });
    await w.buildHosts();
    if (!options.withoutDaemon) await w.startDaemon();
    return w;
  }

  /** The host and outside namespaces, joined by the uplink, as a fresh machine has them. */
  private async buildHosts(): Promise<void> {
    for (const line of [
      `netns add ${this.host}`,
      `netns add ${this.outside}`,
      `link add uplink0 netns ${this.host} type veth peer name wan0 netns ${this.outside}`,
      `-n ${this.host} link set lo up`,
      `-n ${this.host} addr add ${UPLINK_IP}/24 dev uplink0`,
      `-n ${this.host} link set uplink0 up`,
      `-n ${this.host} route add default via ${OUTSIDE_IP}`,
      `-n ${this.outside} link set lo up`,
      `-n ${this.outside} addr add ${OUTSIDE_IP}/24 dev wan0`,
      `-n ${this.outside} link set wan0 up`,
    ]) {
      await must('ip', line.split(' '));
    }
  }

  /**
   * A reboot-like loss of all kernel state, the records kept: the daemon is killed, every
   * container process of this world too, and the host's namespaces (berth's sandboxes, the
   * host with its bridges and rules, the outside) are deleted and made fresh. Start the
   * daemon again afterwards.
   */
  async loseKernelState(): Promise<void> {
    await this.killDaemon('SIGKILL');
    for (const pid of await processesMentioning(this.dir)) killGroupOrProcess(pid);
    for (const ns of await listBerthNetns()) await must('ip', ['netns', 'del', ns]);
    await must('ip', ['netns', 'del', this.host]);
    await must('ip', ['netns', 'del', this.outside]);
    await this.buildHosts();
  }

  /** Starts the daemon in the host netns and waits until its API answers. */
  async startDaemon(extraArgs: readonly string[] = [], env: NodeJS.ProcessEnv = process.env, roots?: readonly string[]): Promise<Result | undefined> {
    const entry = this.options.daemonEntry ?? [BERTH_BIN, 'daemon'];
    // Test composition roots (daemonEntry) take no such flag and never repair periodically.
    const repair = this.options.daemonEntry ? [] : ['--repair-interval', String(this.options.repairIntervalMs ?? 0)];
    // bin/berth runs itself, as a user runs it (its interpreter line carries the daemon's V8 flags).
    const command = this.options.daemonEntry ? [process.execPath, ...entry] : entry;
    const args = [`--net=/run/netns/${this.host}`, ...command,
      ...(roots ?? ['--data-root', `${this.dir}/data`]), '--exec-root', `${this.dir}/exec`, ...repair, ...(this.options.daemonArgs ?? []), ...extraArgs];
    this.daemonOutput = '';
    const daemon = spawn('nsenter', args, { stdio: daemonStdio, env });
    for (const output of [daemon.stdout, daemon.stderr]) output?.on('data', (d: Buffer) => (this.daemonOutput += d.toString()));
    const exited = new Promise<number>((resolve) => daemon.on('exit', (code) => resolve(code ?? 1)));
    for (let i = 0; i < 200; i++) {
      if (this.daemonOutput.includes('berth daemon ready')) {
        this.daemon = daemon;
        return undefined;
      }
      const done = await Promise.race([exited, sleep(25).then(() => undefined)]);
      // A daemon that refused to start; the one running before (if any) stays this world's.
      if (done !== undefined) return { code: done, stdout: this.daemonOutput, stderr: this.daemonOutput };
    }
    throw new Error(`daemon did not start: ${this.daemonOutput}`);
  }

  /** Kills the daemon (SIGKILL simulates a crash) and waits for it to be gone. */
  async killDaemon(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const d = this.daemon;
    if (!d || d.exitCode !== null) return;
    const gone = new Promise((resolve) => d.once('exit', resolve));
    d.kill(signal);
    // A daemon that ignores SIGTERM must fail the test, not hang it.
    const stopped = await Promise.race([gone.then(() => true), sleep(10_000).then(() => false)]);
    if (!stopped) {
      d.kill('SIGKILL');
      await gone;
      throw new Error(`daemon did not exit on ${signal} within 10 s`);
    }
    this.daemon = undefined;
  }

  berth(...args: string[]): Promise<Result> {
    return run(process.execPath, [BERTH_BIN, '-H', `unix://${this.socket}`, ...args]);
  }

  async berthOk(...args: string[]): Promise<string> {
    const r = await this.berth(...args);
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** `berth inspect REF`, parsed: the one container's (or network's) inspect object. */
  async inspect(ref: string): Promise<any> {
    return (JSON.parse(await this.berthOk('inspect', ref)) as any[])[0];
  }

  inHost(...cmd: string[]): Promise<Result> {
    return run('ip', ['netns', 'exec', this.host, ...cmd]);
  }

  inOutside(...cmd: string[]): Promise<Result> {
    return run('ip', ['netns', 'exec', this.outside, ...cmd]);
  }

  /** Starts a node TCP server in a netns; `reply` is JS evaluated per connection with `s` the socket. */
  async serveTcp(netns: string, address: string, port: number, reply: string): Promise<ChildProcess> {
    const script = `require('net').createServer(s=>{s.on('error',()=>{});s.end(${reply})}).listen(${port},'${address}',()=>console.log('listening'))`;
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`tcp server exited with ${code}`)));
    });
    this.servers.push(child);
    return child;
  }
  private readonly servers: ChildProcess[] = [];

  /** Runs test/world/fake-dns.js on the outside host (OUTSIDE_IP:53); `queries` lists what it was asked. */
  async startFakeDns(): Promise<{ queries: () => string[] }> {
    const script = fileURLToPath(new URL('./fake-dns.js', import.meta.url));
    const child = spawn('ip', ['netns', 'exec', this.outside, process.execPath, script, OUTSIDE_IP], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => output.includes('listening') && resolve());
      child.once('exit', (code) => reject(new Error(`fake dns exited with ${code}`)));
    });
    this.servers.push(child);
    return { queries: () => output.split('\n').filter((l) => l.startsWith('query ')).map((l) => l.slice('query '.length)) };
  }

  /** Whether this world's daemon is running (tests may leave it stopped or crashed). */
  get daemonRunning(): boolean {
    return this.daemon !== undefined && this.daemon.exitCode === null && this.daemon.signalCode === null;
  }

  /**
   * Removes every container and user-defined network through berth, then lists what berth
   * left behind: namespaces, veths and bridges of removed networks, container processes.
   */
  async leaksAfterRemovingEverything(): Promise<string[]> {
    // The test's own servers first: one running inside a container's namespace keeps that
    // namespace (and its veth) alive after berth deleted it, which is no leak of berth's.
    await this.stopServers();
    if (!this.daemonRunning) return [];
    const ids = (await this.berth('ps', '-a', '-q')).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await this.berth('rm', '-f', ...ids);
    const networks = (await this.berth('network', 'ls', '--filter', 'type=custom', '-q')).stdout.split('\n').filter(Boolean);
    if (networks.length > 0) await this.berth('network', 'rm', ...networks);
    const defaultBridge = (await this.berth('network', 'inspect', '-f', '{{.BerthBridge}}', 'bridge')).stdout.trim();
    return settledLeaks(async () => {
      const found = (await listBerthNetns()).map((n) => `netns ${n}`);
      const links = JSON.parse((await run('ip', ['-n', this.host, '-j', 'link', 'show'])).stdout || '[]') as { ifname: string; master?: string; link_netnsid?: number; operstate?: string }[];
      for (const l of links) {
        if (!['lo', 'uplink0', defaultBridge].includes(l.ifname)) found.push(`link ${l.ifname} on the host (master ${l.master ?? 'none'}, peer netns ${l.link_netnsid ?? 'none'}, ${l.operstate ?? ''})`);
      }
      for (const pid of await this.containerProcesses()) found.push(`container process ${pid}`);
      return found;
    });
  }

  /** Processes of this world's containers (their berth-init's arguments name the container's directory). */
  async containerProcesses(): Promise<number[]> {
    return processesMentioning(`${this.dir}/data/containers/`);
  }

  /**
   * Restarts the daemon with `env` (a test composition root's fault switches), runs one
   * CLI command that makes it crash, and waits for it to be gone.
   */
  async crashDuring(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Result> {
    await this.killDaemon('SIGTERM');
    const started = await this.startDaemon([], { ...process.env, ...env });
    if (started) throw new Error(`daemon did not start: ${started.stdout}`);
    const d = this.daemon!;
    const gone = new Promise((resolve) => (d.exitCode !== null || d.signalCode !== null ? resolve(undefined) : d.once('exit', resolve)));
    const result = await this.berth(...args);
    await Promise.race([gone, sleep(10_000).then(() => Promise.reject(new Error(`the daemon did not crash during berth ${args.join(' ')}`)))]);
    this.daemon = undefined;
    return result;
  }

  /** One request to the daemon's API: status and body text. */
  api(method: string, path: string, body?: unknown, rawBody?: Buffer): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath: this.socket, method, path, headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(rawBody ?? (body === undefined ? undefined : JSON.stringify(body)));
    });
  }

  private async stopServers(): Promise<void> {
    const exits = this.servers.filter((s) => s.exitCode === null && s.signalCode === null).map((s) => new Promise((resolve) => s.once('exit', resolve)));
    for (const s of this.servers) s.kill('SIGKILL');
    await Promise.all(exits);
    this.servers.length = 0;
  }

  async dispose(): Promise<void> {
    await this.stopServers();
    const pids: number[] = [];
    if (this.daemon) {
      const ids = (await this.berth('ps', '-a', '-q')).stdout.split('\n').filter(Boolean);
      for (const id of ids) {
        const pid = Number((await this.berth('inspect', '-f', '{{.State.Pid}}', id)).stdout.trim());
        if (pid > 0) pids.push(pid);
      }
      if (ids.length > 0) await this.berth('rm', '-f', ...ids);
      await this.killDaemon('SIGTERM');
    }
    // Containers of this world that the API no longer knew (a crashed daemon): found by
    // the world's directory in their command line, so only processes this world started.
    pids.push(...(await processesMentioning(this.dir)));
    for (const pid of pids) killGroupOrProcess(pid);
    for (const ns of await listBerthNetns()) await run('ip', ['netns', 'del', ns]);
    await run('ip', ['netns', 'del', this.host]);
    await run('ip', ['netns', 'del', this.outside]);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** SIGKILL to the process group of a container (its berth-init leads one), else to the process. */
function killGroupOrProcess(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      return;
    } catch {
      // not a group leader, or already gone
    }
  }
}

async function processesMentioning(text: string): Promise<number[]> {
  const ps = await run('ps', ['-eo', 'pid=,args=']);
  return ps.stdout
    .split('\n')
    .filter((line) => line.includes(text) && !line.includes('ps -eo'))
    .map((line) => Number(line.trim().split(' ')[0]))
    .filter((pid) => pid > 0 && pid !== process.pid);
}

export async function listBerthNetns(): Promise<string[]> {
  if (!existsSync('/run/netns')) return [];
  return (await readdir('/run/netns')).filter((n) => n.startsWith('berth-'));
}

/** What a suite must leave behind: no namespaces and no processes of its worlds. */
export async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  if (existsSync('/run/netns')) found.push(...(await readdir('/run/netns')).map((n) => `netns ${n}`));
  const ps = await run('ps', ['-eo', 'pid,args']);
  for (const line of ps.stdout.split('\n')) {
    if (line.includes('/tmp/berth-world-') && !line.includes('ps -eo')) found.push(`process ${line.trim()}`);
  }
  return found;
}

/** A TCP client run inside `netns` (via ip netns exec): the reply, or REFUSED / TIMEOUT. */
export async function tcpRequest(netnsCmd: readonly string[], address: string, port: number, timeoutMs = 2000): Promise<string> {
  const script =
    `const s=require('net').connect(${port},'${address}');let d='';s.setEncoding('utf8');` +
    `s.on('data',c=>d+=c);s.on('end',()=>{console.log(d.trim());process.exit(0)});` +
    `s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'REFUSED':e.code);process.exit(0)});` +
    `setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},${timeoutMs});`;
  const r = await run(netnsCmd[0]!, [...netnsCmd.slice(1), process.execPath, '-e', script]);
  return r.stdout.trim();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A daemon's stdio, and descriptor 40 inherited as from a careless parent: the daemon's
 * containers must not see it. Above 15: Node marks descriptors 0-15 close-on-exec at start-up.
 */
const INHERITED_DESCRIPTOR = 40;
const daemonStdio = Array.from({ length: INHERITED_DESCRIPTOR + 1 }, (_, fd) => (fd === 1 || fd === 2 || fd === INHERITED_DESCRIPTOR ? 'pipe' : 'ignore'));

/** Polls `check` until it holds or `timeoutMs` passes; for kernel work that completes asynchronously. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  do {
    if (await check()) return true;
    await sleep(20);
  } while (Date.now() < deadline);
  return false;
}

/** `eventually`, failing the test with `what` when `check` never held within `timeoutMs`. */
export async function mustEventually(what: string, check: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  if (!(await eventually(check, timeoutMs))) throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** Polls for leaks that the kernel removes asynchronously (a namespace's veth peers go ~100 ms after it). */
export async function settledLeaks(find: () => Promise<string[]>, timeoutMs = 2000): Promise<string[]> {
  let found: string[] = [];
  await eventually(async () => (found = await find()).length === 0, timeoutMs);
  return found;
}
