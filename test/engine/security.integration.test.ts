import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BERTH_BIN, must, run, sandboxSkip, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Security defaults (part 9): berth's files are root's, and a container cannot drive the
 * daemon — its socket, data root and exec root are hidden in every container's mount
 * namespace (before, a container reached the socket and made a host-mode container
 * through it). What a container still sees is the host's other files, as a host command.
 */
const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

describe('security defaults', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'inside', '--', 'sleep', '600');
    await w.berthOk('run', '-d', '--name', 'onhost', '--network', 'host', '--', 'sleep', '600');
  });
  after(() => checkLeaksThenDispose(w));

  test('the API socket is 0660 and berth\'s roots, a container\'s directory and its logs are root\'s alone', async () => {
    assert.equal(await mode(w.socket), '660');
    assert.equal(await mode(join(w.dir, 'data')), '700');
    assert.equal(await mode(join(w.dir, 'exec')), '700');
    const id = (await w.berthOk('inspect', '-f', '{{.Id}}', 'inside')).trim();
    assert.equal(await mode(join(w.dir, 'data', 'containers', id)), '700');
    assert.equal(await mode(join(w.dir, 'data', 'containers', id, 'stdout.log')), '600');
    assert.equal(await mode(join(w.dir, 'exec', 'containers', id)), '700');
  });

  test('the containers\' directories in the data root are spread apart by ext4 (its top-directory flag on their parent)', async (t) => {
    const containers = join(w.dir, 'data', 'containers');
    const fs = (await must('stat', ['-f', '-c', '%T', containers])).trim();
    if (fs !== 'ext2/ext3') return t.skip(`the data root is on ${fs} here, not ext4: the flag is ext4's`);
    assert.match((await must('lsattr', ['-d', containers])).split(/\s+/)[0]!, /T/);
  });

  test('a run\'s files (hosts, resolv.conf, mount table) are in the exec root, logs in the data root; both go with the container', async () => {
    const id = (await w.berthOk('run', '-d', '--name', 'files', '--', 'sleep', '600')).trim();
    const runDir = join(w.dir, 'exec', 'containers', id);
    const paths = (await w.berthOk('inspect', '-f', '{{.HostsPath}} {{.ResolvConfPath}} {{.LogPath}}', 'files')).trim().split(' ');
    assert.deepEqual(paths, [join(runDir, 'hosts'), join(runDir, 'resolv.conf'), join(w.dir, 'data', 'containers', id, 'stdout.log')]);
    assert.match(await readFile(join(runDir, 'hosts'), 'utf8'), new RegExp(`\\s${id.slice(0, 12)}\\n`));
    assert.match(await readFile(join(runDir, 'mounts'), 'utf8'), new RegExp(`^${runDir}/hosts /etc/hosts none bind`));
    // What the container sees is that file.
    assert.equal((await w.berthOk('exec', 'files', 'cat', '/etc/hosts')), await readFile(join(runDir, 'hosts'), 'utf8'));
    await w.berthOk('rm', '-f', 'files');
    for (const dir of [runDir, join(w.dir, 'data', 'containers', id)]) await assert.rejects(stat(dir), { code: 'ENOENT' }, `${dir} is left`);
  });

  for (const container of ['inside', 'onhost']) {
    test(`in a container (${container === 'onhost' ? 'host mode' : 'bridge'}), the data and exec roots are empty and the API cannot be reached`, async () => {
      for (const dir of [join(w.dir, 'data'), join(w.dir, 'exec')]) {
        const listing = await w.berth('exec', container, 'ls', '-A', dir);
        assert.equal(listing.stdout, '', `${dir} shows ${listing.stdout}${listing.stderr}`);
      }
      // berth's own CLI, run inside the container against the daemon's socket.
      const escape = await w.berth('exec', container, process.execPath, BERTH_BIN, '-H', `unix://${w.socket}`, 'run', '-d', '--network', 'host', '--', 'sleep', '1');
      assert.notEqual(escape.code, 0, 'a container created a container through the API');
      assert.equal((await w.berthOk('ps', '-a', '-q')).trim().split('\n').length, 2, 'no container was made');
    });
  }

  test('--user runs the command as that user and group (ids or names, no supplementary groups); an unknown name or bad form is refused', async () => {
    assert.equal((await w.berthOk('run', '--rm', '-u', '65534:65533', '--', 'id')).trim(), 'uid=65534(nobody) gid=65533 groups=65533');
    assert.equal((await w.berthOk('run', '--rm', '--user', 'nobody', '--', 'id', '-un')).trim(), 'nobody');
    // A name's own group, and a group by name (/etc/group), as Docker reads them.
    assert.equal((await w.berthOk('run', '--rm', '-u', 'nobody', '--', 'id')).trim(), 'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
    assert.equal((await w.berthOk('run', '--rm', '-u', 'nobody:daemon', '--', 'id', '-gn')).trim(), 'daemon');
    const unknownGroup = await w.berth('run', '--rm', '-u', 'nobody:nosuchgroup', '--', 'true');
    assert.notEqual(unknownGroup.code, 0);
    assert.match(unknownGroup.stderr, /no group nosuchgroup on this host/);
    assert.equal((await w.berthOk('inspect', '-f', '{{.Config.User}}', (await w.berthOk('create', '-u', '1000', '--', 'true')).trim())).trim(), '1000');
    const unknown = await w.berth('run', '--rm', '-u', 'nosuchuser', '--', 'true');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no user nosuchuser on this host/);
    const bad = await w.berth('run', '--rm', '-u', 'a b', '--', 'true');
    assert.match(bad.stderr, /invalid --user "a b"/);
  });

  test('--read-only: the host\'s files cannot be written from the container, its /dev/shm and the container\'s own files still work', async (t) => {
    // A file of this test's on the root filesystem (the one --read-only covers).
    if ((await run('findmnt', ['-no', 'TARGET', '-T', w.dir])).stdout.trim() !== '/') return t.skip(`${w.dir} is not on the root filesystem here`);
    const probe = join(w.dir, 'read-only-probe');
    const root = await w.berth('run', '--rm', '--read-only', '--', 'sh', '-c', `touch ${probe}`);
    await rm(probe, { force: true });
    assert.notEqual(root.code, 0, 'a read-only container wrote to the host\'s root filesystem');
    assert.match(root.stderr, /Read-only file system/);
    assert.equal((await w.berth('run', '--rm', '--read-only', '--', 'sh', '-c', 'touch /dev/shm/berth-probe && rm /dev/shm/berth-probe && cat /etc/hostname >/dev/null; getent hosts localhost')).code, 0);
    const id = (await w.berthOk('create', '--read-only', '--', 'sh', '-c', 'exit 3')).trim();
    assert.equal((await w.berthOk('inspect', '-f', '{{.HostConfig.ReadonlyRootfs}}', id)).trim(), 'true');
    await w.berthOk('start', id);
    assert.equal((await w.berthOk('wait', id)).trim(), '3', 'the exit code is still recorded');
  });

  // -i stdin through the hidden directory: test/api/docker-clients (docker run -i).
  test('exit codes are still recorded with the container\'s directory hidden (berth-init reaches it through its fd)', async () => {
    await w.berth('run', '--name', 'exits', '--', 'sh', '-c', 'exit 7');
    assert.equal((await w.berthOk('inspect', '-f', '{{.State.ExitCode}}', 'exits')).trim(), '7');
  });
});

describe('the API socket\'s group', { skip: sandboxSkip }, () => {
  let w: World | undefined;
  const groupFile = '/tmp/berth-test-group';
  after(async () => {
    await checkLeaksThenDispose(w);
    await run('umount', ['/etc/group']);
    await rm(groupFile, { force: true });
  });

  test('when a group named berth exists, the socket is root:berth 0660, so its members need no sudo (Docker\'s docker group)', async () => {
    // In the sandbox's own mount namespace only: this machine's /etc/group is not touched.
    await writeFile(groupFile, `${await readFile('/etc/group', 'utf8')}berth:x:4242:\n`);
    await must('mount', ['--bind', groupFile, '/etc/group']);
    w = await World.create();
    const socket = await stat(w.socket);
    assert.deepEqual([socket.uid, socket.gid, (socket.mode & 0o777).toString(8)], [0, 4242, '660']);
  });
});

for (const firewall of ['nftables', 'iptables'] as const) {
  describe(`what a container reaches of the host (--firewall ${firewall})`, { skip: sandboxSkip }, () => {
    let w: World;
    before(async () => {
      w = await World.create({ daemonArgs: ['--firewall', firewall] });
      await w.serveTcp(w.host, '0.0.0.0', 7000, "'host service'");
      await w.berthOk('network', 'create', '-o', 'berth.host_access=true', 'trusted');
      await w.berthOk('run', '-d', '--name', 'plain', '--', 'sleep', '600');
      await w.berthOk('run', '-d', '--name', 'web', '-p', '1180:7001', '--', process.execPath, '-e', "require('net').createServer((s)=>s.end('published\\n')).listen(7001)");
      await w.berthOk('run', '-d', '--name', 'admin', '--network', 'trusted', '--', 'sleep', '600');
    });
    after(() => checkLeaksThenDispose(w));

    const fromContainer = (container: string, address: string, port: number) => w.berthOk('exec', container, process.execPath, '-e',
      `const s=require('net').connect(${port},'${address}');let d='';s.on('data',c=>d+=c);s.on('end',()=>{console.log(d.trim());process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},1500)`);

    test('by default, not the host\'s own services (on its gateway or any host address), but ping and published ports (even its own, through a host address)', async () => {
      assert.equal((await fromContainer('plain', '172.17.0.1', 7000)).trim(), 'TIMEOUT');
      assert.equal((await fromContainer('plain', UPLINK_IP, 7000)).trim(), 'TIMEOUT');
      assert.equal((await w.berth('exec', 'plain', 'ping', '-c', '1', '-W', '1', '172.17.0.1')).code, 0);
      assert.equal((await fromContainer('plain', UPLINK_IP, 1180)).trim(), 'published');
      assert.equal((await fromContainer('web', UPLINK_IP, 1180)).trim(), 'published');
    });

    test('on a network made with -o berth.host_access=true, the host\'s services too', async () => {
      assert.equal((await fromContainer('admin', UPLINK_IP, 7000)).trim(), 'host service');
    });
  });
}
