import { readFileSync } from 'node:fs';

/** CPU time in seconds, split as the kernel accounts it: in user space and in the kernel on the task's behalf. */
export interface CpuSeconds {
  readonly user: number;
  readonly kernel: number;
}

/**
 * A process's CPU time so far: all its threads, the ones that have ended included (the
 * kernel adds an ended thread's time to its process), and its main thread's alone (the
 * thread whose id is the pid: for a Node daemon, the event loop's thread, where every
 * request's JavaScript runs). The difference over a timed part shows whether that one
 * thread, rather than the machine's cores, bounds the part.
 */
export function processCpuSeconds(pid: number): { readonly all: CpuSeconds; readonly mainThread: CpuSeconds } {
  return { all: statCpu(`/proc/${pid}/stat`), mainThread: statCpu(`/proc/${pid}/task/${pid}/stat`) };
}

export function cpuDifference(after: CpuSeconds, before: CpuSeconds): CpuSeconds {
  return { user: after.user - before.user, kernel: after.kernel - before.kernel };
}

/** /proc's unit for a task's times: USER_HZ, 100 on every Linux architecture berth runs on. */
const USER_HZ = 100;

/** utime and stime of a /proc stat file (fields 14 and 15; the command name before them may hold spaces, so fields count from its closing parenthesis). */
function statCpu(path: string): CpuSeconds {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state, field 3 of the file; utime is field 14, stime field 15.
  return { user: Number(fields[11]) / USER_HZ, kernel: Number(fields[12]) / USER_HZ };
}
