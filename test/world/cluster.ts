import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { EtcdCluster } from './etcd.js';
import { BERTH_BIN, must, run, sleep, type Result } from './world.js';

/**
 * A world of several hosts for multi-host tests (part 7), inside the sandbox:
 *
 *   sandbox namespace: bridge "ul-<id>" 203.0.113.1/24 (the underlay), etcd on .1
 *     ├── netns "c<id>h0": eth0 203.0.113.10/24, its own berth daemon
 *     ├── netns "c<id>h1": eth0 203.0.113.11/24, its own berth daemon
 *     └── ...
 *
 * Each host's daemon runs in the host's network namespace and in a mount namespace of its
 * own with a private /run, so each host has its own /run/netns: one daemon's reconcile
 * never sees, let alone removes, another host's sandboxes. Commands "on a host" enter the
 * daemon's network and mount namespaces (nsenter -t PID -n -m).
 */
export const UNDERLAY_PREFIX = '203.0.113';

export interface ClusterHost {
  readonly index: number;
  readonly netns: string;
  readonly address: string;
  readonly dir: string;
  readonly socket: string;
  daemon?: ChildProcess;
  output: string;
}

export class ClusterWorld {
  readonly id = randomBytes(3).toString('hex');
  readonly dir = `/tmp/berth-cluster-${this.id}`;
  readonly underlay = `ul-${this.id}`;
  readonly hosts: ClusterHost[] = [];
  etcd: EtcdCluster | undefined;

  static async create(options: {
    readonly hosts: number;
    readonly etcdMembers?: 1 | 3;
    readonly daemonArgs?: (w: ClusterWorld, host: ClusterHost) => readonly string[];
    /** Hosts only: no daemons (kernel-level tests drive the hosts themselves). */
    readonly withoutDaemons?: boolean;
  }): Promise<ClusterWorld> {
    const w = new ClusterWorld();
    try {
      await mkdir(w.dir, { recursive: true });
      await must('ip', ['link', 'add', w.underlay, 'type', 'bridge']);
      await must('ip', ['addr', 'add', `${UNDERLAY_PREFIX}.1/24`, 'dev', w.underlay]);
      await must('ip', ['link', 'set', w.underlay, 'up']);
      w.etcd = await EtcdCluster.start(options.etcdMembers ?? 1, `${UNDERLAY_PREFIX}.1`);
      for (let i = 0; i < options.hosts; i++) await w.addHost();
      for (const h of options.withoutDaemons ? [] : w.hosts) {
        const failed = await w.startDaemon(h.index, options.daemonArgs?.(w, h) ?? []);
        if (failed !== undefined) throw new Error(`daemon of host ${h.index} exited: ${failed}`);
      }
    } catch (err) {
      await w.dispose();
      throw err;
    }
    return w;
  }

  private async addHost(): Promise<ClusterHost> {
    const index = this.hosts.length;
    const netns = `c${this.id}h${index}`;
    const address = `${UNDERLAY_PREFIX}.${10 + index}`;
    const veth = `v${this.id}h${index}`;
    for (const line of [
      `netns add ${netns}`,
      `link add ${veth} master ${this.underlay} up type veth peer name eth0 netns ${netns}`,
      `-n ${netns} link set lo up`,
      `-n ${netns} addr add ${address}/24 dev eth0`,
      `-n ${netns} link set eth0 up`,
    ]) {
      await must('ip', line.split(' '));
    }
    const dir = `${this.dir}/h${index}`;
    const host: ClusterHost = { index, netns, address, dir, socket: `${dir}/exec/berth.sock`, output: '' };
    this.hosts.push(host);
    return host;
  }

  /**
   * Starts host `index`'s daemon in its network namespace and a mount namespace with a
   * private /run; resolves once it is ready, or with its output when it exits instead.
   */
  async startDaemon(index: number, extraArgs: readonly string[] = []): Promise<string | undefined> {
    const h = this.hosts[index]!;
    // Drift repair off, as in World: the cluster tests break links by hand on purpose. bin/berth
    // runs itself, as in World (its interpreter line carries the daemon's V8 flags).
    const daemonArgs = [BERTH_BIN, 'daemon', '--data-root', `${h.dir}/data`, '--exec-root', `${h.dir}/exec`, '--repair-interval', '0', ...extraArgs];
    const script = 'mount -t tmpfs tmpfs /run && mkdir -p /run/netns && exec "$@"';
    const child = spawn('nsenter', [`--net=/run/netns/${h.netns}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...daemonArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    h.output = '';
    child.stdout.on('data', (d: Buffer) => (h.output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (h.output += d.toString()));
    for (let i = 0; i < 400; i++) {
      if (h.output.includes('berth daemon ready')) {
        h.daemon = child;
        return undefined;
      }
      if (child.exitCode !== null) return h.output;
      await sleep(25);
    }
    child.kill('SIGKILL');
    throw new Error(`daemon of host ${index} did not start: ${h.output}`);
  }

  /** Kills host `index`'s daemon (SIGKILL: a crash) and waits for it to be gone. */
  async killDaemon(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const h = this.hosts[index]!;
    const d = h.daemon;
    if (!d || d.exitCode !== null) return;
    const gone = new Promise((resolve) => d.once('exit', resolve));
    d.kill(signal);
    await gone;
    h.daemon = undefined;
  }

  /** The CLI against host `index`'s daemon. */
  berth(index: number, ...args: string[]): Promise<Result> {
    return run(process.execPath, [BERTH_BIN, '-H', `unix://${this.hosts[index]!.socket}`, ...args]);
  }

  async berthOk(index: number, ...args: string[]): Promise<string> {
    const r = await this.berth(index, ...args);
    if (r.code !== 0) throw new Error(`berth on host ${index}: ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Whether host `index`'s daemon lists a network of that name. */
  async lists(index: number, network: string): Promise<boolean> {
    return (await this.berthOk(index, 'network', 'ls', '--format', '{{.Name}}')).split('\n').includes(network);
  }

  /** A command on host `index`: its network namespace and its daemon's mount namespace (its /run/netns). */
  onHost(index: number, ...cmd: string[]): Promise<Result> {
    const pid = this.hosts[index]!.daemon?.pid;
    if (pid === undefined) return run('ip', ['netns', 'exec', this.hosts[index]!.netns, ...cmd]);
    return run('nsenter', ['-t', String(pid), '-n', '-m', '--', ...cmd]);
  }

  /** Ends everything this world started, by PID and by name: daemons, containers, etcd, namespaces, the underlay. */
  async dispose(): Promise<void> {
    // SIGTERM first: a daemon that stops removes what it keeps outside this world's
    // directory (the trace probe's sender under /tmp); one that does not within 5 s is killed.
    await Promise.all(this.hosts.map((h) => Promise.race([this.killDaemon(h.index, 'SIGTERM'), sleep(5000)])));
    for (const h of this.hosts) await this.killDaemon(h.index, 'SIGKILL');
    const ps = await run('ps', ['-eo', 'pid,args']);
    for (const line of ps.stdout.split('\n')) {
      const pid = Number(line.trim().split(' ')[0]);
      if (line.includes(this.dir) && pid > 0 && pid !== process.pid && !line.includes('ps -eo')) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
    }
    for (const h of this.hosts) await run('ip', ['netns', 'del', h.netns]);
    await run('ip', ['link', 'del', this.underlay]);
    await this.etcd?.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
