import { readFileSync } from 'node:fs';

/**
 * Waits until this machine's CPUs are idle, as a bench's timed part should begin: a bench
 * run after others (bench:all) otherwise shares the cores with what the kernel still does
 * for them (freeing thousands of network namespaces goes on in its workqueues for tens of
 * seconds), and so does the part of one bench that follows another part (Docker's 200
 * after berth's 1,000 were removed). /proc/stat is the machine's, whatever namespace the
 * caller is in. Returns the seconds waited; gives up after `timeoutS` (the bench goes on, as
 * on a machine that is never quiet).
 */
export async function waitForQuietCpus(idleShare = QUIET_IDLE_SHARE, timeoutS = QUIET_TIMEOUT_S): Promise<number> {
  const began = Date.now();
  for (;;) {
    const before = cpuTimes();
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    const after = cpuTimes();
    const idle = (after.idle - before.idle) / Math.max(1, after.total - before.total);
    const waitedS = (Date.now() - began) / 1000;
    if (idle >= idleShare || waitedS >= timeoutS) return waitedS;
  }
}

/** The share of the CPUs' time that must be idle over one sample. */
const QUIET_IDLE_SHARE = 0.9;
const QUIET_TIMEOUT_S = 60;
const SAMPLE_MS = 1000;

/**
 * The machine's CPU time spent busy so far, in seconds (all CPUs, every process and the
 * kernel's own threads): the difference over a timed part is the work it cost, which the
 * cores' count and the VM's other load do not blur as much as its wall-clock time.
 */
export function busyCpuSeconds(): number {
  const { idle, total } = cpuTimes();
  return (total - idle) / USER_HZ;
}

/** /proc's unit for CPU times (/proc/stat's and each task's): USER_HZ, 100 on every Linux architecture berth runs on. */
export const USER_HZ = 100;

/** All CPUs' time so far in clock ticks: idle (with iowait) and in total (the first line of /proc/stat). */
function cpuTimes(): { idle: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is counted in user already.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return { idle: idle + iowait, total: user + nice + system + idle + iowait + irq + softirq + steal };
}
