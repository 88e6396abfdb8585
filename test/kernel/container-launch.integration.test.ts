import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';
import { ContainerLauncher } from '../../src/kernel/launcher.js';
import { openMountTemplate, type MountTemplate } from '../../src/kernel/mount-template.js';
import { launchContainer, processesWithArguments, signalContainer, type LaunchedProcess } from '../../src/kernel/process.js';
import { sandboxSkip } from '../world/world.js';

/**
 * The launcher holds its own copy of the mount template's descriptor: a daemon that closes
 * its own does not fail the starts that follow. The command inherits none of the launch's
 * descriptors (the launcher's requests and answers, the report pipe, the template): only
 * stdin, stdout and stderr. It is static busybox's sleep: a dynamically linked command
 * holds its libraries open for a moment after its exec, while its loader maps them (CI saw
 * coreutils' sleep with libc.so.6 as fd 3).
 */
test('a container launched after the daemon closed its template starts; its command holds only fds 0-2', { skip: sandboxSkip }, async () => {
  // The daemon's descriptor of the template, which it closes here (the test's own stays for the test's end).
  let daemonsCopy = -1;
  const daemonsCopyOf = (template: MountTemplate) => (daemonsCopy = openSync(`/proc/self/fd/${template.fd}`, 'r'));
  await inLaunchWorld(async ({ dir, launcher, pids }) => {
    pids.push((await launchSleeper(launcher, dir, 'first')).pid);
    closeSync(daemonsCopy);
    const { pid } = await launchSleeper(launcher, dir, 'second');
    pids.push(pid);
    // berth-init reports before it forks the command, and its child holds berth-init's
    // descriptors until it has closed them and exec'd: look for the command itself a while (up to 2 s).
    const children = () => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
    const isCommand = (child: string) => readFileSync(`/proc/${child}/cmdline`, 'utf8').startsWith('busybox\0sleep\0');
    let command: string | undefined;
    for (let i = 0; i < 200 && command === undefined; i++) {
      command = children().find(isCommand);
      if (command === undefined) await sleep(10);
    }
    assert.ok(command !== undefined, 'the command never ran');
    assert.equal(readdirSync(`/proc/${command}/fd`).sort().join(' '), '0 1 2');
  }, daemonsCopyOf);
});

/**
 * A restarted daemon finds a start it did not finish by the arguments of the container's
 * process (processesWithArguments): forked, not exec'd, berth-init shows them all the same.
 * And the launcher reports each end: the exit status as a shell gives it.
 */
test("a launched container's process shows berth-init's arguments; its end comes with its status", { skip: sandboxSkip }, async () => {
  await inLaunchWorld(async ({ dir, launcher }) => {
    const exitCodePath = join(dir, 'own', 'exit');
    const launched = await launchContainer({
      netns: '', launcher, hostname: 'shown', hostsFile: join(dir, 'hosts'), resolvConfFile: join(dir, 'resolv.conf'), command: ['busybox', 'sh', '-c', 'read _; exit 7'], env: [],
      stdinFifoPath: join(dir, 'own', 'stdin'), stdoutPath: join(dir, 'own', 'out'), stderrPath: join(dir, 'own', 'err'), exitCodePath, mountTablePath: join(dir, 'mounts'), hidden: { directories: [], files: [] },
    });
    await launched.setUp;
    assert.deepEqual((await processesWithArguments([exitCodePath])).get(exitCodePath), [launched.pid]);
    // The launcher runs SCHED_BATCH (it does not preempt the daemon's thread), the container SCHED_OTHER.
    const launcherPid = statField(launched.pid, 4);
    assert.deepEqual([statField(launcherPid, 41), statField(launched.pid, 41)], [SCHED_BATCH, SCHED_OTHER]);
    assert.match(readFileSync(`/proc/${launched.pid}/cmdline`, 'utf8'), new RegExp(`^berth-init\\0\\0shown\\0${join(dir, 'mounts')}\\0${exitCodePath}\\0`));
    await launched.stdin!.close();
    assert.equal(await keptAlive(launched.exited), 7);
    assert.equal(readFileSync(exitCodePath, 'utf8'), '7\n');
  });
});

/**
 * A launcher killed while the daemon lives: the container it started runs on and its end is
 * still seen (through /proc), and the next start makes another launcher.
 */
test('a killed launcher: its container ends as seen through /proc, and the next launch makes another', { skip: sandboxSkip, timeout: 30_000 }, async () => {
  await inLaunchWorld(async ({ dir, launcher, pids }) => {
    const launch = async (name: string) => {
      const launched = await launchSleeper(launcher, dir, name);
      pids.push(launched.pid);
      return launched;
    };
    const first = await launch('first');
    const launcherPid = statField(first.pid, 4);
    assert.match(readFileSync(`/proc/${launcherPid}/cmdline`, 'utf8'), /berth-init\0--launcher\0/);
    process.kill(launcherPid, 'SIGKILL');
    const second = await eventuallyLaunched(() => launch('second'));
    assert.notEqual(statField(second.pid, 4), launcherPid);
    signalContainer(first.pid, 'SIGKILL');
    assert.equal(await keptAlive(first.exited), 137);
    signalContainer(second.pid, 'SIGKILL');
    assert.equal(await keptAlive(second.exited), 137);
  });
});

/** What a test launches with: its directory, a launcher, and the pids of the containers it started (killed at the end). */
interface LaunchWorld {
  readonly dir: string;
  readonly launcher: ContainerLauncher;
  readonly pids: number[];
}

/**
 * `work` with a fresh directory holding the files every container here mounts (its hosts
 * and resolv.conf), and a launcher given the template descriptor `launcherFd` returns (the
 * template's own unless said); afterwards the containers in `pids` are killed and all of it
 * closed and removed.
 */
async function inLaunchWorld(work: (world: LaunchWorld) => Promise<void>, launcherFd = (template: MountTemplate) => template.fd): Promise<void> {
  const dir = mkdtempSync('/tmp/berth-launch-test-');
  const template = await openMountTemplate();
  const launcher = new ContainerLauncher(findLaunchTools().init, launcherFd(template));
  const pids: number[] = [];
  try {
    writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.53\n');
    await work({ dir, launcher, pids });
  } finally {
    for (const pid of pids) signalContainer(pid, 'SIGKILL');
    launcher.close();
    template.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A host-mode container running static busybox's `sleep 30`, its own files under `dir`/NAME; resolves once it is set up. */
async function launchSleeper(launcher: ContainerLauncher, dir: string, name: string): Promise<LaunchedProcess> {
  const launched = await launchContainer({
    netns: '', launcher, hostname: name, hostsFile: join(dir, 'hosts'), resolvConfFile: join(dir, 'resolv.conf'), command: ['busybox', 'sleep', '30'], env: [],
    stdoutPath: join(dir, name, 'out'), stderrPath: join(dir, name, 'err'), exitCodePath: join(dir, name, 'exit'), mountTablePath: join(dir, `${name}.mounts`), hidden: { directories: [], files: [] },
  });
  await launched.setUp;
  return launched;
}

const SCHED_OTHER = 0;
const SCHED_BATCH = 3;

/** Field `n` of /proc/PID/stat (4: the parent, 41: the scheduling policy), as a number. */
function statField(pid: number, n: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3]);
}

/** A running container keeps nothing alive (as in a stopping daemon): the test waits for its end with a timer of its own. */
async function keptAlive<T>(end: Promise<T>): Promise<T> {
  const alive = setInterval(() => undefined, 1000);
  try {
    return await end;
  } finally {
    clearInterval(alive);
  }
}

/** The launch, retried while the killed launcher's end has not been seen yet (its launch then fails at once). */
async function eventuallyLaunched<T>(launch: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await launch();
    } catch (err) {
      if (i >= 50 || !/launcher/.test((err as Error).message)) throw err;
      await sleep(20);
    }
  }
}

/**
 * berth-init runs the command in a vfork'd child, which must not touch stdio: when the exec
 * fails, berth-init itself says why on the container's stderr and records Docker's codes
 * (127: not found, 126: found but not runnable).
 */
test('a command that cannot run: exit code 127 or 126, and why on the container stderr', { skip: sandboxSkip }, async () => {
  await inLaunchWorld(async ({ dir, launcher }) => {
    writeFileSync(join(dir, 'not-runnable'), 'data\n', { mode: 0o644 });
    const cases = [
      { name: 'missing', command: [join(dir, 'missing')], code: 127, said: `berth-init: ${join(dir, 'missing')}: No such file or directory` },
      { name: 'plain', command: [join(dir, 'not-runnable')], code: 126, said: `berth-init: ${join(dir, 'not-runnable')}: Permission denied` },
    ];
    for (const c of cases) {
      const own = join(dir, c.name);
      mkdirSync(`${own}.d`);
      const launched = await launchContainer({
        netns: '', launcher, hostname: c.name, hostsFile: join(dir, 'hosts'), resolvConfFile: join(dir, 'resolv.conf'),
        command: c.command, env: [], stdoutPath: `${own}.d/out`, stderrPath: `${own}.d/err`, exitCodePath: `${own}.d/exit`, mountTablePath: `${own}.d/mounts`, hidden: { directories: [], files: [] },
      });
      await launched.setUp;
      for (let i = 0; i < 200 && !existsSync(`${own}.d/exit`); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(readFileSync(`${own}.d/exit`, 'utf8'), `${c.code}\n`, c.name);
      assert.equal(readFileSync(`${own}.d/err`, 'utf8'), `${c.said}\n`, c.name);
    }
  });
});
