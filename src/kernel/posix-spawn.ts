import { BerthError } from '../common/errors.js';
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { errno, libc, O_CLOEXEC } from './libc.js';

/**
 * Starting a process without copying the daemon: glibc's posix_spawn clones with
 * CLONE_VM|CLONE_VFORK, so its cost does not grow with the daemon's memory. Node's spawn
 * forks, which copies the page tables of the whole process: 1.4 ms at 91 MB of RSS, 3.1 ms
 * at 219 MB on this VM (0.5 ms for posix_spawn at both), and at 1,000 containers the
 * daemon's forks were its largest single cost (5 ms per container start,
 * bench/scale.ts under --cpu-prof). Containers' first processes start here; tools and execs,
 * rare and needing Node's pipes, keep Node's spawn.
 *
 * The process is the daemon's child but not libuv's: libuv reaps only the children it
 * started, so this one stays a zombie until `reap` collects its status.
 */
const faInit = libc.func('int posix_spawn_file_actions_init(void *actions)');
const faDestroy = libc.func('int posix_spawn_file_actions_destroy(void *actions)');
const faAddDup2 = libc.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)');
const faAddOpen = libc.func('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int flags, uint32_t mode)');
const attrInit = libc.func('int posix_spawnattr_init(void *attr)');
const attrDestroy = libc.func('int posix_spawnattr_destroy(void *attr)');
const attrSetFlags = libc.func('int posix_spawnattr_setflags(void *attr, short flags)');
const attrSetSigDefault = libc.func('int posix_spawnattr_setsigdefault(void *attr, const void *set)');
const attrSetSigMask = libc.func('int posix_spawnattr_setsigmask(void *attr, const void *set)');
const posixSpawnp = libc.func('int posix_spawnp(_Out_ int *pid, const char *file, void *actions, void *attr, const char **argv, const char **envp)');
const pipe2C = libc.func('int pipe2(void *fds, int flags)');
const waitpidC = libc.func('int waitpid(int pid, _Out_ int *status, int options)');

/** glibc's opaque types, with room to spare (80 and 336 bytes on x86-64), and sigset_t (1,024 bits). */
const FILE_ACTIONS_SIZE = 256;
const ATTR_SIZE = 1024;
const SIGSET_SIZE = 128;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const WNOHANG = 1;

export interface SessionSpawn {
  /** Looked up in PATH, as a shell would. */
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The child's descriptors 0, 1, 2, ...: each one of ours (dup'ed), or 'null' for /dev/null. The rest are not inherited (all of ours are close-on-exec). */
  readonly descriptors: readonly (number | 'null')[];
}

/**
 * Starts `file` in a session of its own (the leader of a new process group), with every
 * signal at its default and none blocked, whatever the daemon ignores (Node ignores SIGPIPE).
 * Returns its pid; throws when it could not be started.
 */
export function spawnInNewSession(spec: SessionSpawn): number {
  const actions = Buffer.alloc(FILE_ACTIONS_SIZE);
  const attr = Buffer.alloc(ATTR_SIZE);
  faInit(actions);
  attrInit(attr);
  try {
    spec.descriptors.forEach((fd, target) => {
      if (fd === 'null') faAddOpen(actions, target, '/dev/null', fsConstants.O_RDWR, 0);
      else faAddDup2(actions, fd, target);
    });
    attrSetSigDefault(attr, Buffer.alloc(SIGSET_SIZE, 0xff));
    attrSetSigMask(attr, Buffer.alloc(SIGSET_SIZE, 0));
    attrSetFlags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const pid = [0];
    const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
    const failure = posixSpawnp(pid, spec.file, actions, attr, [spec.file, ...spec.args, null], [...env, null]) as number;
    if (failure !== 0) throw new BerthError('kernel', `cannot start ${spec.file}: errno ${failure}`);
    return pid[0]!;
  } finally {
    faDestroy(actions);
    attrDestroy(attr);
  }
}

/** A pipe, both ends close-on-exec: [read end, write end]. */
export function closeOnExecPipe(): [number, number] {
  const fds = Buffer.alloc(8);
  if ((pipe2C(fds, O_CLOEXEC) as number) !== 0) throw new BerthError('kernel', `cannot make a pipe: errno ${errno()}`);
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/**
 * The exit status of a child started here, as a shell gives it (the code, or 128 + the
 * signal), once it has ended; the caller knows it is ending (its pipe closed), so this
 * polls, from 1 ms, without blocking the event loop.
 */
export async function reap(pid: number): Promise<number> {
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 100)) {
    const status = [0];
    const reaped = waitpidC(pid, status, WNOHANG) as number;
    if (reaped === pid) return shellStatus(status[0]!);
    if (reaped < 0) {
      const failure = errno();
      if (failure === osConstants.errno.EINTR) continue;
      throw new BerthError('kernel', `cannot collect the exit status of process ${pid}: errno ${failure}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

/** wait(2)'s status word as a shell's $?: exited → its code; killed → 128 + the signal. */
export function shellStatus(status: number): number {
  const signal = status & 0x7f;
  return signal === 0 ? (status >> 8) & 0xff : 128 + signal;
}
