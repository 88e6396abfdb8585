import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { must, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

describe('the default bridge\'s subnet and name', { skip: sandboxSkip }, () => {
  const worlds: World[] = [];
  after(() => checkLeaksThenDispose(...worlds));

  test('--bip and --bridge choose the bridge address and name, like dockerd', async () => {
    const w = await World.create({ daemonArgs: ['--bip', '10.99.0.1/24', '--bridge', 'docker9'] });
    worlds.push(w);
    await w.berthOk('run', '-d', '--name', 'a', '--', 'sleep', '1000');
    assert.match(await must('ip', ['-n', w.host, '-4', '-o', 'addr', 'show', 'dev', 'docker9']), /inet 10\.99\.0\.1\/24/);
    assert.equal((await w.berthOk('inspect', '-f', '{{.NetworkSettings.IPAddress}}/{{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}}', 'a')).trim(),
      '10.99.0.2/24 10.99.0.1 02:42:0a:63:00:02');
    assert.equal((await w.berth('exec', 'a', 'ping', '-c1', '-W2', '10.99.0.1')).code, 0);
  });

  test('when 172.17.0.0/16 is on a link of the host, the default bridge takes 172.18.0.0/16', async () => {
    const w = await World.create();
    worlds.push(w);
    await w.killDaemon('SIGTERM');
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    // On-link (no gateway): the subnet is in use on uplink0. A route via a gateway would not
    // claim it (test/firewall/loopback.integration.test.ts: a VPN's routes).
    await must('ip', ['-n', w.host, 'route', 'add', '172.17.0.0/16', 'dev', 'uplink0']);
    await w.startDaemon([], process.env, ['--data-root', `${w.dir}/data2`]);
    await w.berthOk('run', '-d', '--name', 'a', '--', 'sleep', '1000');
    assert.equal((await w.berthOk('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'a')).trim(), '172.18.0.2');
  });

  test('an explicit --bip that overlaps a host route is refused and changes nothing', async () => {
    const w = await World.create();
    worlds.push(w);
    await w.killDaemon('SIGTERM');
    await must('ip', ['-n', w.host, 'link', 'del', 'berth0']);
    const r = await w.startDaemon(['--bip', '198.51.100.1/24'], process.env, ['--data-root', `${w.dir}/data3`]);
    assert.equal(r?.code, 1);
    assert.match(r.stdout, /^Error: --bip 198\.51\.100\.1 \(198\.51\.100\.0\/24\) overlaps the host route 198\.51\.100\.0\/24 on uplink0$/m);
    assert.doesNotMatch(await must('ip', ['-n', w.host, '-o', 'link']), /berth0/);
  });
});
