import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A berth daemon of a benchmark's own, in a fresh temporary root, stopped (and its root removed) by `stop()`. */
export interface BenchDaemon {
  readonly socket: string;
  readonly pid: number;
  readonly stop: () => Promise<void>;
}

export const BERTH_BIN = fileURLToPath(new URL('../../bin/berth', import.meta.url));

export async function startBenchDaemon(name: string): Promise<BenchDaemon> {
  // The roots as a Debian host has them: the data root on the disk (/var/lib/berth), the exec
  // root on /run's tmpfs (/run/berth; the sandbox's own /run).
  const dir = mkdtempSync(`/tmp/berth-bench-${name}-`);
  const execRoot = mkdtempSync(`/run/berth-bench-${name}-`);
  const socket = join(execRoot, 'berth.sock');
  // bin/berth itself, as a user runs it: its interpreter line carries the daemon's V8 flags.
  const daemon = spawn(BERTH_BIN, ['daemon', '--data-root', join(dir, 'data'), '--exec-root', execRoot, '-H', `unix://${socket}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async (): Promise<void> => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const gone = new Promise((resolve) => daemon.once('exit', resolve));
      daemon.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(execRoot, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      daemon.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      daemon.once('exit', (code) => reject(new Error(`berth daemon exited with ${code}`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, pid: daemon.pid!, stop };
}
