import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { run, sleep, type Result } from './world.js';

/**
 * A real dockerd (Debian's docker.io: dockerd, its containerd, runc) in a world's host
 * namespace, as ../shared/peers/docker-lab.sh runs one: private data root, exec root,
 * socket and cgroup parent, all under `dir`. It runs in a mount namespace of its own where
 * /run/docker/plugins is `pluginDir` (where that host's berth daemon serves its plugin
 * sockets) and /etc/docker is private, so two dockerds in one sandbox never meet.
 * Image: bb:latest, a static busybox rootfs made by `docker import`.
 * Started and stopped by the tests, by PID; its cgroups are removed after it.
 */
export class Dockerd {
  private exited: Promise<number>;
  log = '';

  private constructor(
    readonly dir: string,
    private readonly process: ChildProcess,
    private readonly cgroupParent: string,
  ) {
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code ?? 1)));
    process.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    process.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  get socket(): string {
    return `${this.dir}/docker.sock`;
  }

  static async start(netns: string, dir: string, pluginDir: string): Promise<Dockerd> {
    await mkdir(`${dir}/etc`, { recursive: true });
    await mkdir(pluginDir, { recursive: true });
    const cgroupParent = `berth-test-${dir.split('/').filter(Boolean).join('-')}`;
    const script = [
      'set -e',
      'mkdir -p /run/docker/plugins /etc/docker',
      `mount --bind "${pluginDir}" /run/docker/plugins`,
      `mount --bind "${dir}/etc" /etc/docker`,
      // What dockerd and its containerd write to the temporary directory (containerd's stack
      // dumps, containerd.<pid>.stacks.log) stays in this world's directory, removed with it.
      `mkdir -p "${dir}/tmp"`,
      `export TMPDIR="${dir}/tmp"`,
      `exec dockerd --data-root "${dir}/data" --exec-root "${dir}/exec" --pidfile "${dir}/dockerd.pid" -H "unix://${dir}/docker.sock"` +
        ` --storage-driver vfs --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/${cgroupParent}"`,
    ].join('\n');
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, 'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const d = new Dockerd(dir, child, cgroupParent);
    for (let i = 0; i < 150; i++) {
      if ((await d.docker('version')).code === 0) {
        await d.importBusybox();
        return d;
      }
      const done = await Promise.race([d.exited, sleep(200).then(() => undefined)]);
      if (done !== undefined) throw new Error(`dockerd exited with ${done}: ${d.log.slice(-2000)}`);
    }
    await d.stop();
    throw new Error(`dockerd did not answer: ${d.log.slice(-2000)}`);
  }

  /** The Debian 20.10 docker CLI against this dockerd. */
  docker(...args: string[]): Promise<Result> {
    return run('docker', args, { env: { ...process.env, DOCKER_HOST: `unix://${this.socket}` }, timeoutMs: 60_000 });
  }

  async dockerOk(...args: string[]): Promise<string> {
    const r = await this.docker(...args);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  private async importBusybox(): Promise<void> {
    const rootfs = `${this.dir}/rootfs`;
    await mkdir(`${rootfs}/bin`, { recursive: true });
    await mkdir(`${rootfs}/etc`, { recursive: true });
    await mkdir(`${rootfs}/tmp`, { recursive: true });
    const steps = [
      `cp /bin/busybox "${rootfs}/bin/"`,
      `chroot "${rootfs}" /bin/busybox --install -s /bin`,
      `tar -C "${rootfs}" -c . | DOCKER_HOST=unix://${this.socket} docker import - bb:latest >/dev/null`,
    ];
    for (const step of steps) {
      const r = await run('sh', ['-c', step]);
      if (r.code !== 0) throw new Error(`${step}: ${r.stderr}`);
    }
  }

  /** Removes every container and user network, stops dockerd (it stops its containerd), removes its cgroups. */
  async stop(): Promise<void> {
    const ids = (await this.docker('ps', '-aq')).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await this.docker('rm', '-f', ...ids);
    await this.docker('network', 'prune', '-f');
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGTERM');
      const stopped = await Promise.race([this.exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!stopped) {
        this.process.kill('SIGKILL');
        await this.exited;
      }
    }
    await removeCgroups(this.cgroupParent);
  }
}

/** The cgroup directories dockerd made under its parent, deepest first (empty once their processes are gone). */
async function removeCgroups(parent: string): Promise<void> {
  for (const root of ['/sys/fs/cgroup', ...(existsSync('/sys/fs/cgroup/cpu') ? (await readdir('/sys/fs/cgroup')).map((c) => `/sys/fs/cgroup/${c}`) : [])]) {
    const top = `${root}/${parent}`;
    if (!existsSync(top)) continue;
    const dirs = [top];
    for (let i = 0; i < dirs.length; i++) {
      for (const entry of await readdir(dirs[i]!, { withFileTypes: true })) if (entry.isDirectory()) dirs.push(`${dirs[i]!}/${entry.name}`);
    }
    for (const d of dirs.reverse()) await rmdir(d).catch(() => undefined);
  }
}
