import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readlink, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';
import { must, sandboxSkip, sleep, World, eventually } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * What a container is, beyond its network: its hostname, its /sys, its mounts, its exit
 * codes, how it stops. Most tests are a defect found by trying berth from outside (part 5).
 */
describe('containers: hostname, sysfs, mounts, exit codes, stop', { skip: sandboxSkip }, () => {
  let w: World;
  // A shared mount made before the daemon starts, as every mount of a Debian host is (systemd).
  const sharedDir = `/run/berth-test-shared-${process.pid}`;
  before(async () => {
    await mkdir(sharedDir);
    await must('mount', ['-t', 'tmpfs', 'berth-test-shared', sharedDir]);
    await must('mount', ['--make-shared', sharedDir]);
    w = await World.create();
  });
  after(async () => {
    await checkLeaksThenDispose(w);
    await must('umount', ['--recursive', sharedDir]);
    await rmdir(sharedDir);
  });

  test('a container\'s mount namespace holds no network namespace\'s pin (its own or others\'), and its working directory is /', async () => {
    await w.berthOk('run', '-d', '--name', 'pins1', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'pins2', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'pins3', '--network', 'host', '--', 'sleep', '1000');
    // mountinfo's fourth field is the mount's root: "net:[INODE]" for a pinned network namespace.
    const pins = (mountinfo: string) => mountinfo.split('\n').filter((line) => line.split(' ')[3]?.startsWith('net:['));
    assert.ok(pins(await readFile('/proc/self/mountinfo', 'utf8')).length >= 4, 'the host holds the world\'s and the containers\' pins');
    for (const name of ['pins1', 'pins2', 'pins3']) {
      const pid = (await w.inspect(name)).State.Pid;
      assert.deepEqual(pins(await readFile(`/proc/${pid}/mountinfo`, 'utf8')), [], `${name} copied these pins`);
      assert.equal(await readlink(`/proc/${pid}/cwd`), '/', name);
    }
  });

  test('what the host mounts after the daemon started shows in containers started later, as in a copy of the host\'s mounts', async () => {
    const later = join(sharedDir, 'later');
    await mkdir(later);
    await must('mount', ['-t', 'tmpfs', 'berth-test-later', later]);
    await writeFile(join(later, 'probe'), 'seen\n');
    assert.equal(await w.berthOk('run', '--rm', '--', 'cat', join(later, 'probe')), 'seen\n');
  });


  test('an unnamed container runs, with the first 12 hex digits of its id as hostname', async () => {
    const id = (await w.berthOk('run', '-d', '--', 'sleep', '1000')).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const c = await w.inspect(id);
    assert.equal(c.State.Status, 'running');
    assert.equal((await w.berthOk('exec', id, 'hostname')).trim(), id.slice(0, 12));
    assert.equal(c.Config.Hostname, id.slice(0, 12));
  });

  test('names Docker generates or compose uses (underscores, 128 characters) are no hostname and do not stop the start', async () => {
    for (const name of ['proj_web_1', `long_${'x'.repeat(123)}`]) {
      const id = (await w.berthOk('run', '-d', '--name', name, '--', 'sleep', '1000')).trim();
      assert.equal((await w.inspect(name)).State.Status, 'running', name);
      assert.equal((await w.berthOk('exec', name, 'hostname')).trim(), id.slice(0, 12), name);
    }
  });

  test('-h sets the hostname with the kernel\'s rules, underscores included', async () => {
    await w.berthOk('run', '-d', '--name', 'h1', '-h', 'web_1.example', '--', 'sleep', '1000');
    assert.equal((await w.berthOk('exec', 'h1', 'hostname')).trim(), 'web_1.example');
  });

  test('/sys is the container\'s own, read-only: its interfaces and its MAC, not the host\'s', async () => {
    await w.berthOk('run', '-d', '--name', 's1', '--', 'sleep', '1000');
    assert.deepEqual((await w.berthOk('exec', 's1', 'ls', '/sys/class/net')).trim().split('\n'), ['eth0', 'lo']);
    assert.equal((await w.berthOk('exec', 's1', 'cat', '/sys/class/net/eth0/address')).trim(), (await w.inspect('s1')).NetworkSettings.MacAddress);
    const touch = await w.berth('exec', 's1', 'sh', '-c', 'echo 1 > /sys/class/net/eth0/mtu');
    assert.notEqual(touch.code, 0);
    assert.match(touch.stderr, /Read-only file system/);
  });

  test('berth run --rm -- CMD (no flag before "--") runs CMD', async () => {
    const r = await w.berth('run', '--rm', '--', 'echo', 'hi');
    assert.deepEqual([r.code, r.stdout], [0, 'hi\n']);
  });

  test('-e PATH is the command\'s alone: it is looked up there (run and exec); berth\'s own tools are not', async () => {
    // /opt holds nothing: berth-init and exec's nsenter are found in the daemon's PATH, not the container's.
    const run = await w.berth('run', '--rm', '-e', 'PATH=/opt', '--', '/bin/sh', '-c', 'echo "$PATH"');
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, '/opt\n', '']);
    const missing = await w.berth('run', '--rm', '-e', 'PATH=/opt', '--', 'echo', 'hi');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot run "echo": executable file not found in \$PATH/);
    await w.berthOk('run', '-d', '--name', 'own-path', '-e', 'PATH=/opt', '--', '/bin/sleep', '1000');
    const exec = await w.berth('exec', 'own-path', '/bin/sh', '-c', 'echo "$PATH"');
    assert.deepEqual([exec.code, exec.stdout], [0, '/opt\n']);
    // The exec's command is looked up in the container's PATH, as Docker does.
    assert.equal((await w.berth('exec', 'own-path', 'true')).code, 127);
    await w.berthOk('rm', '-f', 'own-path');
  });

  test('stop ends a command that ignores SIGTERM: SIGKILL after -t, exit code 137, no process left', async () => {
    await w.berthOk('run', '-d', '--name', 'stubborn', '--', 'sh', '-c', 'trap "" TERM; sleep 1000');
    const pid = (await w.inspect('stubborn')).State.Pid as number;
    const started = Date.now();
    await w.berthOk('stop', '-t', '1', 'stubborn');
    assert.ok(Date.now() - started >= 900, 'stop waited for the timeout before SIGKILL');
    const c = await w.inspect('stubborn');
    assert.deepEqual([c.State.Status, c.State.ExitCode], ['exited', 137]);
    // Nothing of the container's process group is left (the sleep child included).
    assert.equal((await w.inHost('ps', '-o', 'pid=', '-g', String(pid))).stdout.trim(), '');
  });

  test('a command that exits on SIGTERM is stopped at once with 143', async () => {
    await w.berthOk('run', '-d', '--name', 'polite', '--', 'sleep', '1000');
    await w.berthOk('stop', 'polite');
    // 143, not the 137 of the SIGKILL that follows -t.
    assert.equal((await w.inspect('polite')).State.ExitCode, 143);
  });

  test('the command holds only its stdio: no descriptor of the daemon\'s (its inherited ones, libnftables\'s socket)', async () => {
    // The world's daemon inherited a descriptor, and has applied nftables rules by now.
    const r = await w.berth('run', '--rm', '--user', 'nobody', '--', 'sh', '-c', 'ls /proc/$$/fd; true');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\n1\n2\n');
  });

  test('the command starts with no signal ignored: berth-init\'s ignored SIGPIPE and its handlers are not inherited', async () => {
    const r = await w.berth('run', '--rm', '--', 'grep', '^SigIgn:', '/proc/self/status');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'SigIgn:\t0000000000000000\n');
  });

  test('exit codes: 128 + the signal number for every signal (QUIT 131, SEGV 139); wait prints the code and exits 0', async () => {
    await w.berthOk('run', '-d', '--name', 'quit', '--', 'sh', '-c', 'kill -QUIT $$');
    await w.berthOk('run', '-d', '--name', 'segv', '--', 'sh', '-c', 'kill -SEGV $$');
    await w.berthOk('run', '-d', '--name', 'three', '--', 'sh', '-c', 'exit 3');
    const r = await w.berth('wait', 'quit', 'segv', 'three');
    assert.deepEqual([r.code, r.stdout], [0, '131\n139\n3\n']);
    const e = await w.berth('exec', 's1', 'sh', '-c', 'kill -USR1 $$');
    assert.equal(e.code, 138);
  });

  test('a start that fails leaves the reason in State.Error', async () => {
    await w.berthOk('run', '-d', '--name', 'peer', '--', 'sleep', '1000');
    await w.berthOk('create', '--name', 'follower', '--network', 'container:peer', '--', 'sleep', '1000');
    await w.berthOk('stop', '-t', '0', 'peer');
    const r = await w.berth('start', 'follower');
    assert.equal(r.code, 1);
    const c = await w.inspect('follower');
    assert.equal(c.State.Status, 'created');
    assert.match(c.State.Error, /cannot join the network namespace of container peer: it is not running/);
  });

  test('values that would fail only at start are refused at create with 400, and nothing is created', async () => {
    const before = await w.berthOk('ps', '-a', '-q');
    const cases: [string[], RegExp][] = [
      [['run', '-d', '--network', 'n5', '--mac-address', '00:00:00:00:00:00', '--', 'sleep', '1'], /invalid MAC address "00:00:00:00:00:00"/],
      [['run', '-d', '-e', 'A=1\u0001', '--', 'sleep', '1'], /^$/], // control: a non-NUL control character is fine
    ];
    await w.berthOk('network', 'create', '--subnet', '10.55.0.0/24', 'n5');
    const [bad, ok] = cases;
    const r = await w.berth(...bad![0]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, bad![1]);
    assert.equal((await w.berth(...ok![0])).code, 0);
    // NUL cannot cross a command line; the API is where it arrives.
    for (const body of [{ Cmd: ['sleep', '1\u0000'] }, { Cmd: ['sleep', '1'], Env: ['A=\u0000'] }]) {
      const res = await w.api('POST', '/containers/create', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.body, /holds a NUL character/);
    }
    const after = (await w.berthOk('ps', '-a', '-q')).trim().split('\n');
    assert.equal(after.length, before.trim().split('\n').length + 1);
  });
});

describe('a start waits for its container\'s set-up without holding other operations', { skip: sandboxSkip }, () => {
  let w: World;
  let holds: HeldSetUps;
  before(async () => {
    w = await World.create({ daemonEntry: [new URL('../world/crashing-daemon.js', import.meta.url).pathname], withoutDaemon: true });
    holds = await HeldSetUps.make(w);
    await w.startDaemon([], { ...process.env, ...holds.daemonEnv });
  });
  after(() => checkLeaksThenDispose(w));

  const sandboxes = async (): Promise<string[]> => (await must('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith('berth-'));

  /** A created container whose set-up holds until `release` (HeldSetUps), its start under way and running. */
  async function heldContainer(name: string, then: 'proceed' | 'fail') {
    const held = await holds.hold(name, then);
    await w.berthOk('create', '--name', name, ...held.createFlags, '--', 'sleep', '1000');
    const start = w.berth('start', name);
    let answered = false;
    void start.then(() => { answered = true; });
    assert.equal(await eventually(async () => (await w.inspect(name)).State.Status === 'running', 10_000), true, `${name} never ran`);
    return { start, answered: () => answered, release: held.release };
  }

  test('other operations go on meanwhile; an exec waits for the set-up; the start answers once the container is ready', async () => {
    const held = await heldContainer('slow', 'proceed');
    // Each of these went through the operation queue the start held until its set-up was done.
    await w.berthOk('network', 'create', 'beside-slow');
    await w.berthOk('run', '-d', '--name', 'quick', '--network', 'beside-slow', '--', 'sleep', '1000');
    assert.equal(held.answered(), false, 'the start answered before its container was set up');
    const exec = w.berth('exec', 'slow', 'cat', '/etc/hosts');
    let execAnswered = false;
    void exec.then(() => { execAnswered = true; });
    // Time enough for an exec that does not wait to run and answer (with the host's /etc/hosts).
    await sleep(500);
    assert.equal(execAnswered, false, 'the exec ran before the container was set up');
    await held.release();
    assert.equal((await held.start).code, 0);
    const hosts = await exec;
    assert.equal(hosts.code, 0, hosts.stderr);
    const address = (await w.inspect('slow')).NetworkSettings.IPAddress as string;
    assert.match(hosts.stdout, new RegExp(`^${address.replaceAll('.', '\\.')}\\s`, 'm'), 'the exec saw the container\'s own /etc/hosts');
    await w.berthOk('rm', '-f', 'slow', 'quick');
    await w.berthOk('network', 'rm', 'beside-slow');
  });

  test('a set-up that fails after the queue was freed undoes the start: created, with why, nothing left', async () => {
    const before = await sandboxes();
    const held = await heldContainer('doomed', 'fail');
    await held.release();
    const r = await held.start;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the held set-up refused/);
    const c = await w.inspect('doomed');
    assert.deepEqual([c.State.Status, c.State.Pid], ['created', 0]);
    assert.match(c.State.Error, /cannot start the container: the held set-up refused/);
    assert.deepEqual(await sandboxes(), before, 'the failed start left its namespace');
    assert.deepEqual(await w.containerProcesses(), []);
    await w.berthOk('rm', 'doomed');
  });

  test('rm -f meets a container setting itself up: the start fails, nothing is left', async () => {
    const before = await sandboxes();
    const held = await heldContainer('met', 'proceed');
    await w.berthOk('rm', '-f', 'met');
    const r = await held.start;
    assert.notEqual(r.code, 0);
    assert.deepEqual(await sandboxes(), before);
    assert.equal(await eventually(async () => (await w.containerProcesses()).length === 0, 5000), true, 'a process of the removed container is left');
    assert.equal((await w.berth('inspect', 'met')).code, 1);
  });
});

describe('a daemon killed between launching a container and recording it', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonEntry: [new URL('../world/crashing-daemon.js', import.meta.url).pathname] });
  });
  after(() => checkLeaksThenDispose(w));

  test('the orphan runs on; the restarted daemon kills it; start works again; rm -f leaves no process', async () => {
    // Its set-up reports to the daemon only once the daemon is gone.
    const holds = await HeldSetUps.make(w);
    const held = await holds.hold('half', 'proceed');
    await w.berthOk('create', '--name', 'half', ...held.createFlags, '--', 'sleep', '1000');
    const died = await w.crashDuring({ ...holds.daemonEnv, BERTH_TEST_CRASH_AT: 'container-launched' }, 'start', 'half');
    assert.notEqual(died.code, 0);
    // The crash left the container's process, outside any record. It reports its set-up to
    // nobody, and runs its command all the same (a child of berth-init).
    const [init] = await w.containerProcesses();
    assert.ok(init !== undefined, 'the crash left no process');
    await held.release();
    const runsSleep = async () => (await commandsOfChildren(init)).includes('sleep 1000');
    assert.equal(await eventually(runsSleep, 5000), true, 'the orphan did not run its command');
    await w.startDaemon();
    assert.equal(await eventually(async () => (await w.containerProcesses()).length === 0, 5000), true, 'reconcile killed the orphan');
    const c = await w.inspect('half');
    assert.equal(c.State.Status, 'created');
    await w.berthOk('start', 'half');
    assert.equal((await w.berth('exec', 'half', 'true')).code, 0);
    await w.berthOk('rm', '-f', 'half');
    await sleep(100);
    assert.deepEqual(await w.containerProcesses(), []);
    assert.deepEqual((await must('ip', ['netns', 'list'])).split('\n').filter((l) => l.startsWith('berth-')), []);
  });
});

/** The command lines of a process's children (none once it is gone). */
async function commandsOfChildren(pid: number): Promise<string[]> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).split(' ').filter((p) => p !== '');
  return Promise.all(children.map(async (child) => (await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim()));
}

/**
 * Containers' set-ups held until released: a daemon started with `daemonEnv` (the crashing
 * daemon's test root) starts its launcher through a script that runs the real one with its
 * answers through a filter, which holds back the set-up report of a container whose
 * hostname was given to `hold` until the release (or, with 'fail', replaces it with a
 * failure, as berth-init reports one, and kills the container). To the daemon that
 * container is setting itself up meanwhile. Any other container reports at once. Bounded:
 * a hold gives up waiting after 30 s, or when the container is gone.
 */
class HeldSetUps {
  private constructor(
    private readonly dir: string,
    readonly daemonEnv: NodeJS.ProcessEnv,
  ) {}

  static async make(w: World): Promise<HeldSetUps> {
    const dir = join(w.dir, 'held-set-ups');
    await mkdir(dir, { recursive: true });
    const launcher = [
      '#!/bin/sh',
      `${findLaunchTools().init} "$@" | while IFS= read -r line; do`,
      '  case "$line" in',
      '  "ready "*)',
      '    pid=${line#ready }',
      // The container's process shows berth-init's arguments: NETNS HOSTNAME ...
      `    held=${dir}/$(tr '\\0' '\\n' < /proc/$pid/cmdline | sed -n 3p)`,
      '    if [ -e "$held.hold" ]; then',
      '      (',
      '        i=0; while [ ! -e "$held.go" ] && [ -e /proc/$pid ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done',
      '        if [ "$(cat "$held.hold")" = fail ]; then echo "failed $pid the held set-up refused"; kill -s KILL -- -$pid; elif [ -e /proc/$pid ]; then echo "$line"; fi',
      '      ) &',
      '    else echo "$line"; fi ;;',
      '  *) echo "$line" ;;',
      '  esac',
      'done',
    ];
    await writeFile(join(dir, 'launcher'), `${launcher.join('\n')}\n`, { mode: 0o755 });
    return new HeldSetUps(dir, { BERTH_TEST_INIT: join(dir, 'launcher') });
  }

  /** The container to create with `createFlags` (its hostname) holds its set-up until `release`. */
  async hold(name: string, then: 'proceed' | 'fail') {
    const hostname = `held-${name}`;
    await writeFile(join(this.dir, `${hostname}.hold`), then);
    return { createFlags: ['--hostname', hostname], release: () => writeFile(join(this.dir, `${hostname}.go`), '') };
  }
}
