import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, rm } from 'node:fs/promises';
import { processStartTime } from '../../src/kernel/process-identity.js';
import { LocalStore } from '../../src/store/local.js';
import { listBerthNetns, must, mustEventually, run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

describe('daemon crash and restart: containers keep their network, reconcile repairs both ways', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    for (const name of ['a', 'b', 'c']) await w.berthOk('run', '-d', '--name', name, '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--rm', '--name', 'd', '--', 'sleep', '1000');
  });
  after(() => checkLeaksThenDispose(w));

  const snapshot = async (name: string) =>
    (await w.berthOk('inspect', '-f', '{{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.EndpointID}}', name)).trim();

  test('after kill -9 of the daemon and a restart, state is intact and a still pings b', async () => {
    const psBefore = await w.berthOk('ps', '-a', '-q');
    const aBefore = await snapshot('a');
    const bBefore = await snapshot('b');
    const [bVeth, cPid, dPid, dSandbox] = (await w.berthOk('inspect', '-f',
      '{{.NetworkSettings.Networks.bridge.BerthHostInterface}}', 'b')).trim().split(' ').concat(
      (await w.berthOk('inspect', '-f', '{{.State.Pid}}', 'c')).trim(),
      (await w.berthOk('inspect', '-f', '{{.State.Pid}}', 'd')).trim(),
      (await w.berthOk('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'd')).trim(),
    );

    await w.killDaemon('SIGKILL');
    // The data path does not need the daemon.
    assert.equal((await w.berth('exec', 'a', 'ping', '-c1', '-W2', '172.17.0.3')).code, 1, 'exec needs the daemon API');
    assert.equal((await run('ip', ['netns', 'exec', (await sandboxOf(aBefore)), 'ping', '-c1', '-W2', '172.17.0.3'])).code, 0);

    // While it is down: c and d die, someone deletes b's veth, and a crash leftover appears.
    process.kill(-Number(cPid), 'SIGKILL');
    process.kill(-Number(dPid), 'SIGKILL');
    await must('ip', ['-n', w.host, 'link', 'del', bVeth!]);
    await must('ip', ['netns', 'add', 'berth-deadbeef0000']);
    await must('ip', ['-n', w.host, 'link', 'add', 'vethdeadbee', 'master', 'berth0', 'type', 'veth', 'peer', 'name', 'orphanpeer']);

    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);

    assert.equal(await snapshot('a'), aBefore);
    assert.equal(await snapshot('b'), bBefore);
    assert.equal((await w.berth('exec', 'a', 'ping', '-c1', '-W2', '172.17.0.3')).code, 0, 'b reachable again through a re-created veth');
    assert.equal((await run('ip', ['-n', w.host, 'link', 'show', 'dev', bVeth!])).code, 0);
    assert.equal((await run('ip', ['-n', w.host, 'link', 'show', 'dev', 'vethdeadbee'])).code, 1, 'orphan veth removed');
    assert.ok(!(await listBerthNetns()).includes('berth-deadbeef0000'), 'orphan namespace removed');

    // c died while the daemon was down: exited. d was --rm: gone, with its namespace.
    assert.match(await w.berthOk('ps', '-a'), /Exited \(137\).*\sc$/m);
    assert.ok(!(await listBerthNetns()).includes(dSandbox!.slice('/run/netns/'.length)));
    // (Not `inspect d`: "d" is also a valid id prefix, which may match something else.)
    assert.doesNotMatch(await w.berthOk('ps', '-a'), /\sd$/m);
    const idsAfter = (await w.berthOk('ps', '-a', '-q')).split('\n').filter(Boolean).sort();
    const idsBefore = psBefore.split('\n').filter(Boolean).sort();
    assert.equal(idsAfter.length, 3);
    assert.ok(idsAfter.every((id) => idsBefore.includes(id)));

    // Addresses of running containers stay reserved (a .2, b .3); c's was freed when it was
    // found exited, as Docker frees a stopped container's: a new container gets it.
    await w.berthOk('run', '-d', '--name', 'e', '--', 'sleep', '1000');
    assert.equal((await w.berthOk('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'e')).trim(), '172.17.0.4');
  });

  test('a daemon stopped with SIGTERM leaves containers running; ps is the same after restart', async () => {
    // Every column but the clock-dependent CREATED and STATUS (which must still say Up).
    const psRows = async () =>
      (await w.berthOk('ps')).trim().split('\n').slice(1).map((line) => {
        const cells = line.split(/\s{3,}/);
        assert.match(cells[3]!, /^Up /);
        return [cells[0], cells[1], cells[4], cells[5], cells[6]].join(' | ');
      });
    const before = await psRows();
    assert.equal(before.length, 3);
    await w.killDaemon('SIGTERM');
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.deepEqual(await psRows(), before);
    // rm -f of a container this daemon did not launch (no report pipe to wait on): its process is gone when rm returns.
    const pid = (await w.inspect('e')).State.Pid;
    await w.berthOk('rm', '-f', 'e');
    // No start time: gone, or a zombie its new parent has yet to reap; either way it runs no more.
    assert.equal(await processStartTime(pid), undefined, "the removed container's process still runs");
  });

  test('a created container stored by an older berth (no network list) starts on its network', async () => {
    await w.killDaemon('SIGTERM');
    const id = 'a1d0'.padEnd(64, '7');
    // The record as the previous release wrote it: no networks, dns, links or extraHosts fields.
    const old = {
      id, name: 'old', created: new Date().toISOString(), hostname: 'old', command: ['sleep', '1000'], env: [], autoRemove: false,
      networkMode: 'bridge', netns: `berth-${id.slice(0, 12)}`, endpoints: [], portMappings: [], ports: [],
      state: { status: 'created', pid: 0, startTime: '', exitCode: 0, startedAt: '0001-01-01T00:00:00Z', finishedAt: '0001-01-01T00:00:00Z', error: '' },
    };
    await new LocalStore(`${w.dir}/data/store`).put('containers', id, old);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    await w.berthOk('start', 'old');
    assert.match(await w.berthOk('exec', 'old', 'ip', '-br', 'addr', 'show', 'eth0'), /^eth0@\S+\s+UP\s+172\.17\.0\.\d+\/16/);
  });

  test('an endpoint record no container lists (a save cut short) is deleted at restart', async () => {
    await w.killDaemon('SIGTERM');
    const id = 'e5d0'.padEnd(64, '3');
    const stray = { id, containerId: 'f'.repeat(64), networkId: 'a'.repeat(64), ifname: 'eth0', address: '172.17.0.50', prefixLength: 16, gateway: '172.17.0.1', gatewayEndpoint: true };
    await new LocalStore(`${w.dir}/data/store`).put('endpoints', id, stray);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.equal(await new LocalStore(`${w.dir}/data/store`).get('endpoints', id), undefined, 'deleted');
  });

  test('links an earlier daemon took out of service and had not deleted yet (gone + 7 hex) are deleted at start', async () => {
    await w.killDaemon('SIGKILL');
    // As a daemon killed between taking a bridge and a pair down and the background deletion leaves them.
    await must('ip', ['netns', 'exec', w.host, 'ip', 'link', 'add', 'gone1a2b3c4', 'type', 'bridge']);
    await must('ip', ['netns', 'exec', w.host, 'ip', 'link', 'add', 'gone5d6e7f8', 'type', 'veth', 'peer', 'name', 'peer5d6e7f8']);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    await mustEventually('both are gone', async () => !/gone1a2b3c4|gone5d6e7f8|peer5d6e7f8/.test((await w.inHost('ip', '-br', 'link')).stdout), 3000);
  });

  test('a container an earlier release started (hosts and resolv.conf beside its logs) keeps them: inspect names them, a connect rewrites its resolv.conf', async () => {
    const id = (await w.berthOk('run', '-d', '--name', 'earlier', '--', 'sleep', '1000')).trim();
    await w.killDaemon('SIGTERM');
    // Where that release kept them: moved there (the same files: the container's binds still show them).
    for (const file of ['hosts', 'resolv.conf']) await rename(`${w.dir}/exec/containers/${id}/${file}`, `${w.dir}/data/containers/${id}/${file}`);
    await rm(`${w.dir}/exec/containers/${id}`, { recursive: true });
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.equal((await w.berthOk('inspect', '-f', '{{.ResolvConfPath}}', 'earlier')).trim(), `${w.dir}/data/containers/${id}/resolv.conf`);
    await w.berthOk('network', 'create', 'later');
    await w.berthOk('network', 'connect', 'later', 'earlier');
    assert.match(await w.berthOk('exec', 'earlier', 'cat', '/etc/resolv.conf'), /^nameserver 127\.0\.0\.11$/m);
  });

  test('a network whose creation an earlier release\'s crash cut short (its intent with the records, a bare bridge) is removed at start', async () => {
    const id = (await w.berthOk('network', 'create', 'cut')).trim();
    const bridge = `br-${id.slice(0, 12)}`;
    await w.killDaemon('SIGKILL');
    // As that release left it: the intent in the data root's store, no network record, the bridge without berth's alias.
    const store = new LocalStore(`${w.dir}/data/store`);
    await store.put('network-intents', id, (await store.get('networks', id))!.value);
    await store.delete('networks', id);
    await must('ip', ['netns', 'exec', w.host, 'ip', 'link', 'set', 'dev', bridge, 'alias', '']);
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    assert.doesNotMatch((await w.inHost('ip', '-br', 'link')).stdout, new RegExp(bridge));
    assert.equal(await new LocalStore(`${w.dir}/data/store`).get('network-intents', id), undefined, 'the intent is deleted');
  });

  /** The named namespace a container's process lives in, from its inspect snapshot "PID IP MAC EP". */
  async function sandboxOf(snap: string): Promise<string> {
    return (await must('ip', ['netns', 'identify', snap.split(' ')[0]!])).trim();
  }
});

describe('a daemon with an empty data root on a host where an earlier berth left its default bridge', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => checkLeaksThenDispose(w));

  test('takes that bridge for its own default network and starts containers on it', async () => {
    await w.killDaemon('SIGTERM');
    // berth0 stays, owned (by its alias) by a network the next daemon has no record of.
    assert.match((await w.inHost('ip', '-d', 'link', 'show', 'berth0')).stdout, /alias berth-network:/);
    await rm(`${w.dir}/data`, { recursive: true, force: true });
    assert.equal(await w.startDaemon(), undefined, w.daemonOutput);
    // Before: reconcile repaired berth0 for the new default network, then deleted it as an
    // orphan by the alias it read before the repair, and the first start failed with ENODEV.
    await w.berthOk('run', '-d', '--name', 'fresh', '--', 'sleep', '600');
    assert.match(await w.berthOk('exec', 'fresh', 'ip', '-br', 'addr', 'show', 'eth0'), /172\.17\.0\.2\/16/);
  });
});
