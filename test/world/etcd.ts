import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { sleep } from './world.js';

/**
 * A real etcd cluster (Debian's etcd-server) for the tests, started and stopped by them:
 * 1 or 3 members listening on `address` (loopback by default; a cluster world's underlay
 * address) in the sandbox's namespace, data under /tmp. Members can be stopped and
 * started again (quorum tests). Each is ended by its PID; nothing outlives `stop()`.
 */
export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  process?: ChildProcess;
  log: string;
}

export class EtcdCluster {
  readonly id = randomBytes(3).toString('hex');
  readonly dir = `/tmp/berth-etcd-${this.id}`;
  readonly members: EtcdMember[];

  private constructor(size: number, address: string) {
    // Ports from this cluster's own block, so clusters of concurrent suites never meet.
    const base = 20000 + (parseInt(this.id, 16) % 2000) * 10;
    this.members = Array.from({ length: size }, (_, i) => ({
      name: `m${i}`,
      clientUrl: `http://${address}:${base + 2 * i}`,
      peerUrl: `http://${address}:${base + 2 * i + 1}`,
      dataDir: `${this.dir}/m${i}`,
      log: '',
    }));
  }

  static async start(size: 1 | 3 = 1, address = '127.0.0.1'): Promise<EtcdCluster> {
    const cluster = new EtcdCluster(size, address);
    await mkdir(cluster.dir, { recursive: true });
    try {
      for (const m of cluster.members) cluster.launch(m);
      for (const m of cluster.members) await cluster.waitHealthy(m);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  private launch(m: EtcdMember): void {
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const args = [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `berth-${this.id}`,
      '--log-level', 'error',
    ];
    const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (m.log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (m.log += d.toString()));
    m.process = child;
  }

  private async waitHealthy(m: EtcdMember, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (m.process?.exitCode !== null && m.process?.exitCode !== undefined) throw new Error(`etcd ${m.name} exited (${m.process.exitCode}): ${m.log.slice(-500)}`);
      if (await healthy(m.clientUrl)) return;
      await sleep(100);
    }
    throw new Error(`etcd ${m.name} not healthy within ${timeoutMs} ms: ${m.log.slice(-500)}`);
  }

  /** Stops one member (SIGKILL: a crash), keeping its data. */
  async stopMember(index: number): Promise<void> {
    await end(this.members[index]!);
  }

  /** Starts a stopped member again with its data; it rejoins the cluster. */
  startMember(index: number): void {
    const m = this.members[index]!;
    const args = ['--name', m.name, '--data-dir', m.dataDir, '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl, '--listen-peer-urls', m.peerUrl, '--log-level', 'error'];
    const child = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (m.log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (m.log += d.toString()));
    m.process = child;
  }

  async stop(): Promise<void> {
    for (const m of this.members) await end(m);
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function end(m: EtcdMember): Promise<void> {
  const child = m.process;
  if (!child || child.exitCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
  m.process = undefined;
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
