import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterWorld } from '../world/cluster.js';
import { Dockerd } from '../world/dockerd.js';
import { mustEventually, REPO, run, sandboxSkip } from '../world/world.js';

/**
 * Docker's multi-host networking without Swarm: two hosts, each with its own dockerd and a
 * berth daemon serving it as its plugin; the berth daemons share a real etcd (part 7). A
 * berth-overlay network created on each dockerd under one berth.name is one berth overlay:
 * containers of the two dockerds reach each other across VXLAN, with addresses no two
 * hosts hand out twice.
 */
describe('berth-overlay: two dockerd hosts on one overlay through berth', { skip: sandboxSkip }, () => {
  let w: ClusterWorld;
  const dockerds: Dockerd[] = [];
  const create = ['network', 'create', '-d', 'berth-overlay', '--ipam-driver', 'berth', '--subnet', '10.70.0.0/24', '-o', 'berth.name=shared', 'ov'];

  before(async () => {
    w = await ClusterWorld.create({
      hosts: 2,
      daemonArgs: (cw, h) => ['--cluster-store', `etcd://${cw.etcd!.endpoints[0]!.replace('http://', '')}`, '--cluster-advertise', h.address, '--docker-plugins', `${h.dir}/plugins`],
    });
    for (const h of w.hosts) dockerds.push(await Dockerd.start(h.netns, `${h.dir}/dockerd`, `${h.dir}/plugins`));
  });
  after(async () => {
    for (const d of dockerds) await d.stop();
    await w?.dispose();
  });

  test('the same overlay on both dockerds is one berth network', async () => {
    for (const d of dockerds) await d.dockerOk(...create);
    for (const i of [0, 1]) {
      const shown = JSON.parse(await w.berthOk(i, 'network', 'inspect', 'shared'))[0];
      assert.equal(shown.Driver, 'overlay');
      assert.equal(shown.Scope, 'global');
    }
    const ids = await Promise.all([0, 1].map(async (i) => JSON.parse(await w.berthOk(i, 'network', 'inspect', 'shared'))[0].Id as string));
    assert.equal(ids[0], ids[1]);
  });

  test('containers of the two dockerds reach each other across hosts, at distinct addresses', async () => {
    await dockerds[0]!.dockerOk('run', '-d', '--name', 'left', '--network', 'ov', 'bb', 'sleep', '600');
    await dockerds[1]!.dockerOk('run', '-d', '--name', 'right', '--network', 'ov', 'bb', 'sleep', '600');
    const left = await dockerds[0]!.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', 'left');
    const right = await dockerds[1]!.dockerOk('inspect', '-f', '{{.NetworkSettings.Networks.ov.IPAddress}}', 'right');
    assert.match(left, /^10\.70\.0\.\d+$/);
    assert.match(right, /^10\.70\.0\.\d+$/);
    assert.notEqual(left, right);
    const deadline = Date.now() + 5000;
    let ping = await dockerds[0]!.docker('exec', 'left', 'ping', '-c', '1', '-W', '1', right);
    while (ping.code !== 0 && Date.now() < deadline) ping = await dockerds[0]!.docker('exec', 'left', 'ping', '-c', '1', '-W', '1', right);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    // The overlay's MTU leaves room for VXLAN's 50 bytes on the 1500-byte underlay, and a packet that fills it crosses.
    assert.equal(await dockerds[1]!.dockerOk('exec', 'right', 'cat', '/sys/class/net/eth0/mtu'), '1450');
    const full = await dockerds[1]!.docker('exec', 'right', 'ping', '-c', '1', '-W', '2', '-s', '1422', left);
    assert.equal(full.code, 0, full.stdout + full.stderr);
  });

  test('docker-compose brings up one service per host on one berth-overlay (examples/compose/overlay.yml)', async () => {
    const compose = (host: number, ...args: string[]) =>
      run('docker-compose', ['-f', `${REPO}examples/compose/overlay.yml`, '-p', 'demo', ...args], { env: { ...process.env, DOCKER_HOST: `unix://${dockerds[host]!.socket}`, IMAGE: 'bb' }, timeoutMs: 120_000 });
    for (const [host, service] of [[0, 'left'], [1, 'right']] as const) {
      const up = await compose(host, 'up', '-d', service);
      assert.equal(up.code, 0, up.stderr);
    }
    const right = await dockerds[1]!.dockerOk('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'demo_right_1');
    assert.match(right, /^10\.71\.0\.\d+$/);
    await mustEventually('left reaches right across hosts', async () => (await compose(0, 'exec', '-T', 'left', 'ping', '-c', '1', '-W', '1', right)).code === 0, 10_000);
    for (const host of [0, 1]) assert.equal((await compose(host, 'down')).code, 0);
    for (const i of [0, 1]) await mustEventually(`host ${i} lets go of the overlay`, async () => !(await w.lists(i, 'compose-shared')), 5000);
  });

  test('docker network rm on one host leaves the overlay to the other; on the last, it goes everywhere', async () => {
    await dockerds[0]!.dockerOk('rm', '-f', 'left');
    await dockerds[0]!.dockerOk('network', 'rm', 'ov');
    assert.equal((await w.berth(1, 'network', 'inspect', 'shared')).code, 0);
    await dockerds[1]!.dockerOk('rm', '-f', 'right');
    await dockerds[1]!.dockerOk('network', 'rm', 'ov');
    for (const i of [0, 1]) {
      const deadline = Date.now() + 5000;
      while ((await w.lists(i, 'shared')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await w.lists(i, 'shared'), false, `host ${i} still lists the overlay`);
    }
  });
});
