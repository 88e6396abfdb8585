import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { BERTH_BIN, mustEventually, run, sandboxSkip, sleep, World, type Result } from '../world/world.js';

/**
 * The stock docker CLI (Debian's 20.10, and a current one where the machine has it) and
 * python3-docker against berth's own daemon: everything beyond `docker network` that users
 * and tools do with a running engine — exec with and without a terminal, foreground runs,
 * restart, rename, top, stats, events, info — and the clear refusal of images.
 */

const CLIENTS: { name: string; path: string }[] = [
  { name: 'Debian docker.io 20.10 CLI', path: '/usr/bin/docker' },
  { name: 'current docker CLI', path: '/usr/local/bin/docker' },
];

function clientTests(client: { name: string; path: string }): void {
  const skip = sandboxSkip || (existsSync(client.path) ? false : `${client.path} is not on this machine`);
  describe(`berth's daemon driven by the ${client.name}`, { skip }, () => {
    let w: World;
    const docker = (...args: string[]): Promise<Result> => run(client.path, ['-H', `unix://${w.socket}`, ...args], { timeoutMs: 30_000 });
    const dockerOk = async (...args: string[]): Promise<string> => {
      const r = await docker(...args);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout.trim();
    };
    before(async () => {
      w = await World.create();
      await dockerOk('run', '-d', '--name', 'box', 'host', 'sleep', '600');
    });
    after(() => w?.dispose());

    test('version and info describe berth', async () => {
      assert.match(await dockerOk('version', '--format', '{{.Server.Platform.Name}}'), /^berth$/);
      const info = await dockerOk('info', '--format', '{{.ContainersRunning}}/{{.Containers}} {{.Driver}} {{.OSType}} {{.DockerRootDir}}');
      assert.equal(info, `1/1 berth linux ${w.dir}/data`);
    });

    test('docker exec: output, exit codes, stdin with -i', async () => {
      const addr = await docker('exec', 'box', 'ip', '-br', 'addr', 'show', 'eth0');
      assert.equal(addr.code, 0, addr.stderr);
      assert.match(addr.stdout, /eth0@\S+\s+UP\s+172\.17\.\d+\.\d+\/16/);
      const err = await docker('exec', 'box', 'sh', '-c', 'echo to-stderr >&2; exit 7');
      assert.equal(err.code, 7);
      assert.equal(err.stderr.trim(), 'to-stderr');
      assert.equal(err.stdout, '');
      const cat = await run(client.path, ['-H', `unix://${w.socket}`, 'exec', '-i', 'box', 'cat'], { input: 'through stdin\n' });
      assert.equal(cat.code, 0, cat.stderr);
      assert.equal(cat.stdout, 'through stdin\n');
    });

    test('docker exec -it runs on a real pseudo-terminal', async () => {
      // script(1) gives the client the terminal it needs for -t.
      const r = await run('script', ['-qec', `${client.path} -H unix://${w.socket} exec -it box sh -c 'tty; echo exit-through-tty; exit 4'`, '/dev/null']);
      assert.match(r.stdout, /\/dev\/pts\/\d+/);
      assert.match(r.stdout, /exit-through-tty/);
      assert.equal(r.code, 4);
    });

    test('a foreground docker run streams stdout and stderr apart and passes the exit code; --rm removes it', async () => {
      // A few times: the command writes and exits at once, racing the attach it started from.
      for (const name of ['fg-1', 'fg-2', 'fg-3']) {
        const r = await docker('run', '--rm', '--name', name, 'host', 'sh', '-c', 'echo out; echo err >&2; exit 3');
        assert.equal(r.code, 3, r.stderr);
        assert.equal(r.stdout, 'out\n', name);
        assert.equal(r.stderr, 'err\n', name);
        assert.notEqual((await docker('inspect', name)).code, 0);
      }
    });

    test('docker run -i: the attached client\'s stdin is the command\'s, and its end of input ends it', async () => {
      const r = await run(client.path, ['-H', `unix://${w.socket}`, 'run', '-i', '--rm', 'host', 'sh', '-c', 'cat; echo done'], { input: 'line one\nline two\n', timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'line one\nline two\ndone\n');
    });

    test('--rm is honoured by the daemon when the client goes away', async () => {
      const foreground = spawn(client.path, ['-H', `unix://${w.socket}`, 'run', '--rm', '--name', 'gone', 'host', 'sleep', '1'], { stdio: 'ignore' });
      let listed = false;
      for (let i = 0; i < 100 && !listed; i++) {
        listed = (await docker('inspect', '-f', '{{.State.Status}}', 'gone')).stdout.trim() === 'running';
        if (!listed) await sleep(20);
      }
      assert.ok(listed, 'the container never ran');
      foreground.kill('SIGKILL');
      await mustEventually('the container is removed after its exit', async () => (await docker('inspect', 'gone')).code !== 0, 5000);
    });

    test('an image is refused with what berth runs instead, and image lists are empty', async () => {
      const r = await docker('run', 'busybox', 'true');
      assert.equal(r.code, 125);
      assert.match(r.stderr, /berth runs host commands, not images: image "busybox"/);
      assert.match(r.stderr, /--docker-plugins/);
      assert.equal((await dockerOk('images', '-q')), '');
      // -t is refused the same way: nothing is created.
      const before = await dockerOk('ps', '-aq');
      const tty = await docker('run', '-t', 'host', 'true');
      assert.equal(tty.code, 125);
      assert.match(tty.stderr, /berth containers run without a terminal \(-t\).*exec -it/);
      assert.equal(await dockerOk('ps', '-aq'), before);
    });

    test('restart, rename, start of an exited container, top and stats', async () => {
      await dockerOk('rename', 'box', 'renamed');
      await dockerOk('restart', '-t', '1', 'renamed');
      assert.equal(await dockerOk('inspect', '-f', '{{.State.Status}}', 'renamed'), 'running');
      const top = await dockerOk('top', 'renamed');
      assert.match(top, /sleep 600/);
      assert.doesNotMatch(top, /berth-init/);
      await dockerOk('exec', 'renamed', 'ping', '-c', '2', '-i', '0.2', '172.17.0.1');
      const stats = await dockerOk('stats', '--no-stream', '--format', '{{.Name}} {{.NetIO}}', 'renamed');
      assert.match(stats, /^renamed [1-9][\d.]*k?B \/ [1-9][\d.]*k?B$/);
      assert.equal((await docker('run', '--name', 'once', 'host', 'sh', '-c', 'exit 5')).code, 5);
      const again = await docker('start', '-a', 'once');
      assert.equal(again.code, 5);
      assert.match(await dockerOk('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'once'), /^exited 5$/);
      await dockerOk('rm', 'once');
    });

    test('docker events shows what happened, filtered, between since and until', async () => {
      const since = Math.floor(Date.now() / 1000) - 1;
      await dockerOk('network', 'create', 'evnet');
      await dockerOk('network', 'rm', 'evnet');
      const until = String(Math.ceil(Date.now() / 1000) + 1);
      const all = await dockerOk('events', '--since', String(since), '--until', until, '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}');
      assert.match(all, /^network create evnet$/m);
      assert.match(all, /^network destroy evnet$/m);
      const created = await dockerOk('events', '--since', String(since), '--until', until, '--filter', 'type=network', '--filter', 'event=create', '--format', '{{.Action}} {{.Actor.Attributes.name}}');
      assert.equal(created, 'create evnet');
    });
  });
}

for (const c of CLIENTS) clientTests(c);

describe('python3-docker (the Docker SDK) against berth\'s daemon', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
  });
  after(() => w?.dispose());

  test('ping, version, info, containers run/reload/exec_run/logs/stats, networks, events', async () => {
    // The exec whose output is checked waits a little before writing: python3-docker reads the
    // 101 answer through a buffered reader and then the raw socket, losing frames that arrived
    // with the answer (docker/docker-py#2042, #3332; dockerd's answers meet it as well).
    const script = String.raw`
import docker, json, time
c = docker.DockerClient(base_url='unix://${w.socket}')
assert c.ping()
assert c.version()['Platform']['Name'] == 'berth'
start = int(time.time()) - 1
ct = c.containers.run('host', ['sleep', '600'], detach=True, name='py1')
ct.reload()
assert ct.status == 'running', ct.status
assert ct.image.tags == ['host:latest'], ct.image.tags
assert ct.attrs['HostConfig']['LogConfig']['Type'] == 'json-file'
assert ct.attrs['Config']['Tty'] is False
code, out = ct.exec_run(['sh', '-c', 'sleep 0.1; ip -br addr show eth0; exit 0'])
assert code == 0 and b'172.17.' in out, (code, out)
code, out = ct.exec_run(['sh', '-c', 'exit 9'])
assert code == 9, code
assert c.containers.run('host', ['sh', '-c', 'echo from-sdk'], remove=True) == b'from-sdk\n'
stats = ct.stats(stream=False)
assert 'eth0' in stats['networks'], stats['networks']
net = c.networks.create('sdknet', driver='bridge')
net.connect(ct)
ct.reload()
assert 'sdknet' in ct.attrs['NetworkSettings']['Networks']
net.disconnect(ct)
net.remove()
assert [x.name for x in c.containers.list()] == ['py1']
ct.remove(force=True)
until = int(time.time()) + 1
actions = [(e['Type'], e['Action']) for e in c.events(since=start, until=until, decode=True)]
for wanted in [('container', 'create'), ('container', 'start'), ('network', 'connect'), ('network', 'destroy'), ('container', 'destroy')]:
    assert wanted in actions, (wanted, actions)
print('sdk ok')
`;
    // Debian's python3 and its python3-docker (set-up installs both), whatever python3 PATH finds first.
    const r = await run('/usr/bin/python3', ['-c', script], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sdk ok/);
  });
});

describe('berth exec uses the same exec endpoints', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'box', '--', 'sleep', '600');
  });
  after(() => w?.dispose());

  test('stdout and stderr apart, the exit code, stdin with -i, a terminal with -t', async () => {
    const r = await w.berth('exec', 'box', 'sh', '-c', 'echo out; echo err >&2; exit 6');
    assert.deepEqual([r.code, r.stdout, r.stderr], [6, 'out\n', 'err\n']);
    const cat = await run(process.execPath, [BERTH_BIN, '-H', `unix://${w.socket}`, 'exec', '-i', 'box', 'cat'], { input: 'piped\n' });
    assert.equal(cat.stdout, 'piped\n');
    // The terminal's size follows the client's window (script's terminal, set to 30x100).
    const tty = await run('script', ['-qec', `stty rows 30 cols 100; ${process.execPath} ${BERTH_BIN} -H unix://${w.socket} exec -t box sh -c 'tty; sleep 0.3; stty size; exit 2'`, '/dev/null']);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    assert.match(tty.stdout, /^30 100\r?$/m);
    assert.equal(tty.code, 2);
    // It goes through the API: while it runs, the daemon lists it (a direct nsenter would leave no trace).
    const running = w.berth('exec', 'box', 'sleep', '1');
    let listed: unknown = null;
    for (let i = 0; i < 40 && listed === null; i++) {
      listed = JSON.parse(await w.berthOk('inspect', 'box'))[0].ExecIDs;
      if (listed === null) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal((listed as string[]).length, 1);
    assert.equal((await running).code, 0);
  });
});
