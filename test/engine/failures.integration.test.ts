import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BERTH_BIN, listBerthNetns, must, run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

const FAULTY_DAEMON = fileURLToPath(new URL('../world/faulty-daemon.js', import.meta.url));

/** Links on the world's host: what a failed operation must not change. */
async function hostLinks(w: World): Promise<string[]> {
  return (JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).sort();
}

describe('a kernel failure midway through an attach leaves nothing behind', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create({ daemonEntry: [FAULTY_DAEMON] });
  });
  after(() => checkLeaksThenDispose(w));

  test('run fails with the failing command named; no veth, namespace, container or address is left', async () => {
    const linksBefore = await hostLinks(w);
    const r = await w.berth('run', '-d', '--name', 'x', '--', 'sleep', '1000');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: kernel operation failed: ip -n berth-[0-9a-f]{12} addr add 192\.0\.2\.1\/32 dev missing0: /m);
    assert.deepEqual(await hostLinks(w), linksBefore);
    assert.deepEqual(await listBerthNetns(), []);
    assert.equal((await w.berthOk('ps', '-a', '-q')).trim(), '');
    // The address went back to the pool: the plan of the next run proposes it again.
    assert.match(await w.berthOk('run', '--dry-run', '--', 'sleep', '1'), /addr add 172\.17\.0\.2\/16 dev eth0/);
  });
});

describe('bad input gets a specific error and changes nothing', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'a1', '--', 'sleep', '1000');
  });
  after(() => checkLeaksThenDispose(w));

  const state = async () => [await w.berthOk('ps', '-a', '-q'), (await listBerthNetns()).join(','), (await hostLinks(w)).join(',')];

  const cases: [string, string[], number, RegExp][] = [
    ['unknown container (exec)', ['exec', 'nope', 'true'], 1, /^Error: no such container: nope$/m],
    ['unknown container (rm)', ['rm', 'nope'], 1, /^Error: no such container: nope$/m],
    ['unknown container (inspect)', ['inspect', 'nope'], 1, /^Error: no such container: nope$/m],
    ['duplicate name', ['run', '-d', '--name', 'a1', '--', 'sleep', '1'], 1, /^Error: the container name "\/a1" is already in use by container "[0-9a-f]{64}"$/m],
    ['invalid name', ['run', '-d', '--name', '-bad', '--', 'sleep', '1'], 1, /invalid container name "-bad"/],
    ['missing executable', ['run', '-d', '--', 'no-such-binary-xyz'], 1, /cannot run "no-such-binary-xyz": executable file not found in \$PATH/],
    ['no command', ['run', '-d'], 2, /^Error: "berth run" requires a command/m],
    ['unknown network', ['run', '-d', '--network', 'nonet', '--', 'sleep', '1'], 1, /^Error: network "nonet" not found$/m],
    ['container: mode naming an unknown container', ['run', '-d', '--network', 'container:nope', '--', 'sleep', '1'], 1, /^Error: cannot join the network namespace of container "nope": no such container$/m],
    ['unknown flag', ['run', '--bogus', '--', 'sleep', '1'], 2, /^Error: unknown flag: --bogus$/m],
    ['bad env', ['run', '-d', '-e', 'NOEQUALS', '--', 'sleep', '1'], 1, /invalid environment variable "NOEQUALS"/],
    ['rm of a running container without -f', ['rm', 'a1'], 1, /cannot remove container "a1": it is running/],
  ];
  for (const [what, args, code, message] of cases) {
    test(what, async () => {
      const before = await state();
      const r = await w.berth(...args);
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await state(), before);
    });
  }

  test('daemon not running', async () => {
    const r = await run(process.execPath, [BERTH_BIN, '-H', `unix://${w.dir}/nothing.sock`, 'ps']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: Cannot connect to the berth daemon at unix:\/\/.*nothing\.sock\. Is the berth daemon running\?$/m);
  });

  test('a second daemon on the same exec-root is refused', async () => {
    const r = await w.startDaemon();
    assert.equal(r?.code, 1);
    assert.match(r.stdout, /a berth daemon is already running \(pid \d+/);
    assert.equal((await w.berth('ps')).code, 0, 'the first daemon is unaffected');
  });

  test('not root: the daemon refuses; --dry-run still prints the plan', async () => {
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BERTH_BIN];
    const d = await run('setpriv', [...asNobody, 'daemon', '--data-root', `${w.dir}/nobody`, '--exec-root', `${w.dir}/nobody-run`]);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /^Error: berth daemon must run as root/m);
    const plan = await run('setpriv', [...asNobody, '-H', `unix://${w.dir}/absent.sock`, 'run', '--dry-run', '--name', 'c', '--', 'sh']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^ip netns add berth-[0-9a-f]{12}\nip link add veth[0-9a-f]{7} numtxqueues 1 numrxqueues 1 master berth0 up type veth peer name eth0 numtxqueues 1 numrxqueues 1 address 02:42:ac:11:00:02 netns berth-[0-9a-f]{12}\n/);
    // The anti-spoofing entries come last, as the daemon applies them.
    assert.match(plan.stdout, /route add default via 172\.17\.0\.1\nnft -f - <<'EOF' {3}# anti-spoofing: container c\n(.*\n)*add element bridge berth guarded \{ "veth[0-9a-f]{7}" \. 02:42:ac:11:00:02 \. 172\.17\.0\.2 \}\n(.*\n)*EOF\n$/);
    const withPorts = await run('setpriv', [...asNobody, '-H', `unix://${w.dir}/absent.sock`, 'run', '--dry-run', '-p', '80:5000', '--', 'sh']);
    assert.equal(withPorts.code, 0, withPorts.stderr);
    assert.match(withPorts.stdout, /^add element ip berth pub_any \{ tcp \. 80 : 172\.17\.0\.2 \. 5000 \}$/m);
  });

  test('offline --dry-run is the engine\'s own planning: the last daemon\'s settings, and every check run does', async () => {
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BERTH_BIN, '-H', `unix://${w.dir}/absent.sock`];
    // A daemon that ran with the iptables backend and another default bridge left its settings behind.
    await mkdir('/var/lib/berth', { recursive: true });
    // The sandbox's tmpfs is 0700; a daemon's data root on a real host is 0755 (mkdir with umask 022).
    await chmod('/var/lib/berth', 0o755);
    const settings = { bridge: 'docker0', bip: '10.66.0.1/24', addressPools: [], dnsServers: [], firewall: 'iptables' };
    await writeFile('/var/lib/berth/daemon.json', JSON.stringify(settings), { mode: 0o644 });
    try {
      const plan = await run('setpriv', [...asNobody, 'run', '--dry-run', '-p', '80:5000', '--', 'sh']);
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stderr, /with the settings of the last daemon \(\/var\/lib\/berth\/daemon\.json\): default bridge docker0 10\.66\.0\.0\/24, iptables/);
      assert.match(plan.stdout, /master docker0 up type veth peer name eth0 numtxqueues 1 numrxqueues 1 address 02:42:0a:42:00:02/);
      assert.match(plan.stdout, /^iptables-restore --noflush/m);
      assert.doesNotMatch(plan.stdout, /^add element ip berth/m);
    } finally {
      await rm('/var/lib/berth/daemon.json', { force: true });
    }
    // The checks of `run` itself: a --link to nothing, a bad --dns (the old offline path skipped both).
    const link = await run('setpriv', [...asNobody, 'run', '--dry-run', '--link', 'nope', '--', 'sh']);
    assert.equal(link.code, 1);
    assert.match(link.stderr, /^Error: .*nope/m);
    const dns = await run('setpriv', [...asNobody, 'run', '--dry-run', '--dns', 'not-an-ip', '--', 'sh']);
    assert.equal(dns.code, 1);
    assert.match(dns.stderr, /^Error: .*not-an-ip/m);
  });

  test('a missing tool (nft) stops the daemon before it changes anything', async () => {
    const fresh = await World.create();
    try {
      await fresh.killDaemon('SIGTERM');
      await must('ip', ['-n', fresh.host, 'link', 'del', 'berth0']);
      await must('ip', ['netns', 'exec', fresh.host, 'nft', 'delete', 'table', 'ip', 'berth']);
      const bin = join(fresh.dir, 'bin-without-nft');
      await mkdir(bin, { recursive: true });
      for (const tool of ['ip', 'nsenter', 'unshare']) await symlink((await must('sh', ['-c', `command -v ${tool}`])).trim(), join(bin, tool));
      // bin/berth's interpreter line finds node on the PATH.
      await symlink(process.execPath, join(bin, 'node'));
      const r = await fresh.startDaemon([], { ...process.env, PATH: bin });
      assert.equal(r?.code, 1);
      assert.match(r.stdout, /^Error: "nft" is not installed$/m);
      assert.match(r.stdout, /apt-get install nftables/);
      assert.equal((await run('ip', ['-n', fresh.host, 'link', 'show', 'berth0'])).code, 1, 'no bridge was created');
    } finally {
      await fresh.dispose();
    }
  });
});
