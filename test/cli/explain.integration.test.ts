import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { must, sandboxSkip, World } from '../world/world.js';
import { applyExplained, settledSnapshot, snapshotKernel, type KernelSnapshot } from '../world/kernel-snapshot.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * `berth explain` prints what the daemon applies: each script it printed, run by `sh -e`
 * in a fresh host namespace with no daemon, must build the kernel state the daemon built
 * (links, addresses, routes, rules, sysctls), operation by operation; and the rebuild
 * scripts of `explain network` / `explain container` must build the current state whole.
 */
// The network's bridge is named, so what is explained before the network exists names the
// bridge it will have (by default a bridge is named after the network's id, drawn at creation).
const FIRST_ENDPOINT = "\n\n# ===== what its first container's endpoint would add\n";
const RUN = ['--network', 'foo', '--network-alias', 'www', '-p', '8080:80', '--name', 'web', '--', 'sleep', '600'];

/**
 * The kernel's state after a script, once it is `expected` or 5 s have passed: `ip netns del`
 * returns before the kernel deletes the namespace's veths (asynchronously, later under load),
 * so a host end can still be listed right after an explained `rm -f`.
 */
async function snapshotReaching(hostNetns: string, expected: KernelSnapshot): Promise<KernelSnapshot> {
  let last = await snapshotKernel(hostNetns);
  for (const until = Date.now() + 5000; !isDeepStrictEqual(last, expected) && Date.now() < until; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await snapshotKernel(hostNetns);
  }
  return last;
}

describe('berth explain: the printed commands build what the daemon builds', { skip: sandboxSkip }, () => {
  const scripts: Record<string, string> = {};
  const states: Record<string, KernelSnapshot> = {};
  let daemonWorld: World | undefined;
  let scriptWorld: World | undefined;

  before(async () => {
    const w = (daemonWorld = await World.create());
    scripts.base = await w.berthOk('explain', 'network', 'bridge');
    scripts.networkCreate = (await w.berthOk('explain', 'network', 'create', '--subnet', '10.77.0.0/24', '-o', 'com.docker.network.bridge.name=brfoo', 'foo')).split(FIRST_ENDPOINT)[0]!;
    await w.berthOk('network', 'create', '--subnet', '10.77.0.0/24', '-o', 'com.docker.network.bridge.name=brfoo', 'foo');
    const explainedRun = await w.berthOk('explain', 'run', ...RUN);
    await w.berthOk('run', '-d', ...RUN);
    const sandbox = (await w.berthOk('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'web')).trim().replace('/run/netns/', '');
    scripts.run = await withNamesDrawn(w, explainedRun, sandbox, 'brfoo');
    const explainedConnect = await w.berthOk('explain', 'connect', 'bridge', 'web');
    await w.berthOk('network', 'connect', 'bridge', 'web');
    scripts.connect = await withNamesDrawn(w, explainedConnect, sandbox, 'berth0');
    states.connected = await settledSnapshot(w.host);
    scripts.rebuild = [await w.berthOk('explain', 'network', 'bridge'), await w.berthOk('explain', 'network', 'foo'), await w.berthOk('explain', 'container', 'web')].join('\n');
    scripts.disconnect = await w.berthOk('explain', 'disconnect', 'foo', 'web');
    await w.berthOk('network', 'disconnect', 'foo', 'web');
    states.disconnected = await settledSnapshot(w.host);
    scripts.rm = await w.berthOk('explain', 'rm', '-f', 'web');
    await w.berthOk('rm', '-f', 'web');
    states.removed = await settledSnapshot(w.host);
    scripts.networkRm = await w.berthOk('explain', 'network', 'rm', 'foo');
    await w.berthOk('network', 'rm', 'foo');
    states.networkRemoved = await settledSnapshot(w.host);
    // The scripts reuse the daemon's names (its bridges, the rebuilt sandbox): its world goes first.
    await checkLeaksThenDispose(w);
    daemonWorld = undefined;
  });
  after(async () => {
    await daemonWorld?.dispose();
    await scriptWorld?.dispose();
  });

  test('each operation explained (network create, run -p with an alias, connect, disconnect, rm -f, network rm), applied in turn by sh', async () => {
    const w = (scriptWorld = await World.create({ withoutDaemon: true }));
    try {
      for (const step of ['base', 'networkCreate', 'run', 'connect']) await applyExplained(w.host, scripts[step]!);
      assert.deepEqual(await snapshotReaching(w.host, states.connected!), states.connected, 'after network create, run and connect');
      await applyExplained(w.host, scripts.disconnect!);
      assert.deepEqual(await snapshotReaching(w.host, states.disconnected!), states.disconnected, 'after disconnect');
      await applyExplained(w.host, scripts.rm!);
      assert.deepEqual(await snapshotReaching(w.host, states.removed!), states.removed, 'after rm -f');
      await applyExplained(w.host, scripts.networkRm!);
      assert.deepEqual(await snapshotReaching(w.host, states.networkRemoved!), states.networkRemoved, 'after network rm');
    } finally {
      await w.dispose();
      scriptWorld = undefined;
    }
  });

  test('explain network NAME and explain container NAME rebuild the state from nothing', async () => {
    const w = (scriptWorld = await World.create({ withoutDaemon: true }));
    try {
      await applyExplained(w.host, scripts.rebuild!);
      assert.deepEqual(await snapshotKernel(w.host), states.connected);
    } finally {
      await w.dispose();
      scriptWorld = undefined;
    }
  });

  test('each step has a comment saying why, grouped by namespace, and the names DNS starts answering', () => {
    const lines = scripts.run!.split('\n');
    const commands = lines.filter((l) => /^(ip|nft|sysctl|bridge) /.test(l));
    assert.ok(commands.length >= 8, scripts.run);
    for (const command of commands) {
      const above = lines[lines.indexOf(command) - 1]!;
      assert.match(above, /^# \S/, `no comment above: ${command}`);
    }
    assert.match(scripts.run!, /^# --- inside namespace berth-[0-9a-f]{12} /m);
    assert.match(scripts.run!, /^# {3}web, www -> 10\.77\.0\.2 {3}\(network foo\)$/m);
  });
});

/**
 * A container's id, so its sandbox's name, and a veth's name are drawn when the operation
 * runs, not when it is explained: the explained script gets the names the daemon drew (the
 * sandbox, the one veth on `bridge`), which the later scripts name.
 */
async function withNamesDrawn(w: World, script: string, sandbox: string, bridge: string): Promise<string> {
  const veths = JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show', 'master', bridge])).map((l: any) => l.ifname as string);
  assert.equal(veths.length, 1, `one veth on ${bridge}`);
  return script.replaceAll(/berth-[0-9a-f]{12}/g, sandbox).replaceAll(/veth[0-9a-f]{7}/g, veths[0]);
}

describe('berth explain: refusals change nothing', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'c1', '--', 'sleep', '600');
  });
  after(() => checkLeaksThenDispose(w));

  test('what the operation would refuse, explain refuses with the same error; unknown operations are usage errors', async () => {
    const rm = await w.berth('explain', 'rm', 'c1');
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /cannot remove container "c1": it is running/);
    const unknown = await w.berth('explain', 'bogus');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /cannot explain "bogus" \(operations: run, create, connect, disconnect, rm, container, network/);
    const missing = await w.berth('explain', 'container', 'nope');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such container: nope/i);
    assert.equal((await w.berth('ps', '-q')).stdout.trim().split('\n').length, 1, 'c1 still runs');
  });
});
