import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTSIDE_IP, REPO, run, sandboxSkip, UPLINK_IP, World } from '../world/world.js';
import { Dockerd } from '../world/dockerd.js';

/**
 * berth as dockerd's network and IPAM plugin, with Debian's dockerd 20.10 and its docker
 * CLI: busybox containers on berth networks get berth's addresses, resolve each other
 * through Docker's own DNS, publish ports through berth's nftables maps, and leave
 * nothing behind when dockerd removes them.
 */

interface HostLink {
  readonly ifname: string;
  readonly master?: string;
}

async function hostLinks(w: World): Promise<HostLink[]> {
  return JSON.parse((await run('ip', ['-n', w.host, '-j', 'link', 'show'])).stdout || '[]') as HostLink[];
}

async function berthNetwork(w: World, docker: Dockerd, name: string): Promise<any> {
  const id = await docker.dockerOk('network', 'inspect', '-f', '{{.Id}}', name);
  return (JSON.parse(await w.berthOk('network', 'inspect', `docker-${id.slice(0, 12)}`)) as any[])[0];
}

describe('berth as dockerd\'s network and IPAM plugin', { skip: sandboxSkip }, () => {
  let w: World;
  let docker: Dockerd;
  let plugins = '';
  before(async () => {
    w = await World.create({ withoutDaemon: true });
    plugins = `${w.dir}/plugins`;
    const started = await w.startDaemon(['--docker-plugins', plugins]);
    if (started) throw new Error(`daemon did not start: ${started.stdout}`);
    docker = await Dockerd.start(w.host, `${w.dir}/dockerd`, plugins);
  });
  after(async () => {
    await docker?.stop();
    await w?.dispose();
  });

  test('docker network create -d berth --ipam-driver berth makes a berth network; its containers get berth addresses and resolve each other', async () => {
    await docker.dockerOk('network', 'create', '-d', 'berth', '--ipam-driver', 'berth', '--subnet', '10.50.0.0/24', 'bn');
    const network = await berthNetwork(w, docker, 'bn');
    assert.equal(network.Driver, 'bridge');
    assert.equal(network.IPAM.Config[0].Subnet, '10.50.0.0/24');
    assert.equal(network.Labels['berth.owner'], 'dockerd');

    await docker.dockerOk('run', '-d', '--name', 'web', '--network', 'bn', 'bb', 'sleep', '600');
    await docker.dockerOk('run', '-d', '--name', 'client', '--network', 'bn', 'bb', 'sleep', '600');
    const address = await docker.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.bn.IPAddress}}', 'web');
    assert.match(address, /^10\.50\.0\.\d+$/);
    const attached = Object.values((await berthNetwork(w, docker, 'bn')).Containers).map((c: any) => c.IPv4Address);
    assert.ok(attached.includes(`${address}/24`), `berth lists ${attached.join(', ')}, not ${address}`);
    const ping = await docker.docker('exec', 'client', 'ping', '-c', '1', '-W', '2', 'web');
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, new RegExp(`\\(${address.replaceAll('.', '\\.')}\\)`));
  });

  test('a container on a berth network reaches the outside through berth\'s NAT', async () => {
    const out = await docker.docker('exec', 'client', 'ping', '-c', '1', '-W', '2', OUTSIDE_IP);
    assert.equal(out.code, 0, out.stdout + out.stderr);
  });

  test('berth killed (-9) and restarted under running dockerd containers: they keep their network, a new one gets a free address', async () => {
    const addresses = await Promise.all(['web', 'client'].map((c) => docker.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.bn.IPAddress}}', c)));
    await w.killDaemon('SIGKILL');
    const failed = await w.startDaemon(['--docker-plugins', plugins]);
    assert.equal(failed, undefined, failed?.stdout);
    const ping = await docker.docker('exec', 'client', 'ping', '-c', '1', '-W', '2', 'web');
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    await docker.dockerOk('run', '-d', '--name', 'third', '--network', 'bn', 'bb', 'sleep', '600');
    const third = await docker.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.bn.IPAddress}}', 'third');
    assert.ok(!addresses.includes(third), `${third} was handed out again (${addresses.join(', ')} are in use)`);
    const reach = await docker.docker('exec', 'third', 'ping', '-c', '1', '-W', '2', 'web');
    assert.equal(reach.code, 0, reach.stdout + reach.stderr);
    await docker.dockerOk('rm', '-f', 'third');
  });

  test('docker run -p publishes through berth\'s nftables map: the outside host reaches the container', async () => {
    await docker.dockerOk('run', '-d', '--name', 'httpd', '--network', 'bn', '-p', '8080:80', 'bb', 'httpd', '-f', '-p', '80', '-h', '/etc');
    const id = await docker.dockerOk('inspect', '-f', '{{.Id}}', 'httpd');
    const map = (await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'map', 'ip', 'berth', 'pub_any'])).stdout;
    assert.match(map, /tcp \. 8080 : 10\.50\.0\.\d+ \. 80/);
    const page = await w.inOutside('wget', '-qO-', '-T', '3', `http://${UPLINK_IP}:8080/hostname`);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.stdout.trim(), id.slice(0, 12));
    await docker.dockerOk('rm', '-f', 'httpd');
    const after = (await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'map', 'ip', 'berth', 'pub_any'])).stdout;
    assert.doesNotMatch(after, /8080/);
  });

  test('a pool that overlaps a berth network is refused with its name, and nothing is made', async () => {
    await w.berthOk('network', 'create', '--subnet', '10.60.0.0/24', 'mine');
    const before = await w.berthOk('network', 'ls', '-q');
    const r = await docker.docker('network', 'create', '-d', 'berth', '--ipam-driver', 'berth', '--subnet', '10.60.0.0/25', 'clash');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /subnet 10\.60\.0\.0\/25 overlaps berth network mine/);
    assert.equal(await w.berthOk('network', 'ls', '-q'), before);
    assert.equal((await docker.docker('network', 'inspect', 'clash')).code, 1);
    await w.berthOk('network', 'rm', 'mine');
  });

  test('--ipam-driver berth under dockerd\'s own bridge driver: the pool hands out its addresses itself', async () => {
    await docker.dockerOk('network', 'create', '-d', 'bridge', '--ipam-driver', 'berth', '--subnet', '10.55.0.0/24', 'dockerown');
    await docker.dockerOk('run', '-d', '--name', 'own1', '--network', 'dockerown', 'bb', 'sleep', '600');
    await docker.dockerOk('run', '-d', '--name', 'own2', '--network', 'dockerown', 'bb', 'sleep', '600');
    const ips = await Promise.all(['own1', 'own2'].map((c) => docker.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.dockerown.IPAddress}}', c)));
    assert.deepEqual(ips, ['10.55.0.2', '10.55.0.3']);
    const ping = await docker.docker('exec', 'own1', 'ping', '-c', '1', '-W', '2', 'own2');
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    // berth's own networks keep out of its subnet (dockerd's bridge routes it on the host).
    const clash = await w.berth('network', 'create', '--subnet', '10.55.0.0/16', 'over');
    assert.notEqual(clash.code, 0);
    await docker.dockerOk('rm', '-f', 'own1', 'own2');
    await docker.dockerOk('network', 'rm', 'dockerown');
  });

  test('berth network rm refuses a network dockerd owns', async () => {
    const network = await berthNetwork(w, docker, 'bn');
    const r = await w.berth('network', 'rm', network.Name);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /belongs to dockerd/);
  });

  test('berth-macvlan with dockerd\'s own IPAM: the container is a host of the parent\'s LAN', async () => {
    await docker.dockerOk('network', 'create', '-d', 'berth-macvlan', '-o', 'parent=uplink0', '--subnet', '198.51.100.0/24', '--gateway', OUTSIDE_IP, '--ip-range', '198.51.100.64/26', 'lan');
    await docker.dockerOk('run', '-d', '--name', 'onlan', '--network', 'lan', 'bb', 'sleep', '600');
    const address = await docker.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.lan.IPAddress}}', 'onlan');
    assert.match(address, /^198\.51\.100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])$/);
    const reached = await w.inOutside('ping', '-c', '1', '-W', '2', address);
    assert.equal(reached.code, 0, reached.stdout);
    // berth holds the address dockerd's IPAM chose: its own containers cannot take it.
    const taken = await w.berth('run', '-d', '--network', `docker-${(await docker.dockerOk('network', 'inspect', '-f', '{{.Id}}', 'lan')).slice(0, 12)}`, '--ip', address, '--', 'sleep', '60');
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /in use|reserved/);
    await docker.dockerOk('rm', '-f', 'onlan');
    await docker.dockerOk('network', 'rm', 'lan');
  });

  test('docker-compose (1.29, python3-docker) runs examples/compose on a berth network; down removes it from berth', async () => {
    const compose = (...args: string[]) =>
      run('docker-compose', ['-f', `${REPO}examples/compose/docker-compose.yml`, '-p', 'demo', ...args], { env: { ...process.env, DOCKER_HOST: `unix://${docker.socket}`, IMAGE: 'bb' }, timeoutMs: 120_000 });
    const up = await compose('up', '-d');
    assert.equal(up.code, 0, up.stderr);
    const network = await berthNetwork(w, docker, 'demo_app');
    assert.equal(network.IPAM.Config[0].Subnet, '10.80.0.0/24');
    assert.equal(Object.keys(network.Containers).length, 2);
    const ping = await compose('exec', '-T', 'client', 'ping', '-c', '1', '-W', '2', 'web');
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, /\(10\.80\.0\.\d+\)/);
    const page = await w.inOutside('wget', '-qO-', '-T', '3', `http://${UPLINK_IP}:8088/hostname`);
    assert.equal(page.code, 0, page.stderr);
    const down = await compose('down');
    assert.equal(down.code, 0, down.stderr);
    const names = (await w.berthOk('network', 'ls', '--format', '{{.Name}}')).split('\n');
    assert.ok(!names.includes(network.Name), names.join(' '));
    assert.doesNotMatch((await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'map', 'ip', 'berth', 'pub_any'])).stdout, /8088/);
  });

  test('docker rm and docker network rm leave nothing in berth or the kernel', async () => {
    const network = await berthNetwork(w, docker, 'bn');
    await docker.dockerOk('rm', '-f', 'web', 'client');
    await docker.dockerOk('network', 'rm', 'bn');
    const names = (await w.berthOk('network', 'ls', '--format', '{{.Name}}')).split('\n');
    assert.ok(!names.includes(network.Name), names.join(' '));
    const left = (await hostLinks(w)).filter((l) => l.ifname === network.BerthBridge || /^(veth|bx)/.test(l.ifname));
    assert.deepEqual(left, []);
  });
});
