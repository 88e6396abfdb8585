import { readFileSync } from 'node:fs';
import { USER_HZ } from './quiet.js';

/** CPU time in seconds, split as the kernel accounts it: in user space and in the kernel on the task's behalf. */
export interface CpuSeconds {
  readonly user: number;
  readonly kernel: number;
}

/**
 * A process's CPU time so far: all its threads, the ones that have ended included (the
 * kernel adds an ended thread's time to its process), and its main thread's alone (the
 * thread whose id is the pid: for a Node daemon, the event loop's thread, where every
 * request's JavaScript runs), with the time that thread was ready to run but waited for a
 * core. Over a timed part, a main thread on a core or waiting for one nearly all the time
 * is the part's critical path; what it waits for is then the other work on the cores.
 */
export interface ProcessCpu {
  readonly all: CpuSeconds;
  readonly mainThread: CpuSeconds;
  /** Seconds; undefined on a kernel without schedstats (CONFIG_SCHED_INFO). */
  readonly mainThreadWaitingS: number | undefined;
}

export function processCpu(pid: number): ProcessCpu {
  return {
    all: statCpu(`/proc/${pid}/stat`),
    mainThread: statCpu(`/proc/${pid}/task/${pid}/stat`),
    mainThreadWaitingS: runQueueWaitS(`/proc/${pid}/task/${pid}/schedstat`),
  };
}

/** What `after` adds to `before`, both of one process. */
export function processCpuSince(before: ProcessCpu, after: ProcessCpu): ProcessCpu {
  const since = (a: CpuSeconds, b: CpuSeconds): CpuSeconds => ({ user: a.user - b.user, kernel: a.kernel - b.kernel });
  const waiting = after.mainThreadWaitingS === undefined || before.mainThreadWaitingS === undefined ? undefined : after.mainThreadWaitingS - before.mainThreadWaitingS;
  return { all: since(after.all, before.all), mainThread: since(after.mainThread, before.mainThread), mainThreadWaitingS: waiting };
}

/** utime and stime of a /proc stat file (fields 14 and 15; the command name before them may hold spaces, so fields count from its closing parenthesis). */
function statCpu(path: string): CpuSeconds {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state, field 3 of the file; utime is field 14, stime field 15.
  return { user: Number(fields[11]) / USER_HZ, kernel: Number(fields[12]) / USER_HZ };
}

/** A task's schedstat: nanoseconds on a core, nanoseconds runnable on a run queue, time slices. */
function runQueueWaitS(path: string): number | undefined {
  let schedstat: string;
  try {
    schedstat = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return Number(schedstat.trim().split(' ')[1]) / 1e9;
}
