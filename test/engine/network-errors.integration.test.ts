import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listBerthNetns, must, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Every network error the issue lists, through the CLI against a real daemon: the exact
 * message, exit code 1, and nothing changed (networks, containers, links, namespaces,
 * firewall rules).
 */
describe('network errors are specific and change nothing', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    // One pool /16 left after the default bridge: bridge2 takes it, so the pools are full.
    w = await World.create({ daemonArgs: ['--default-address-pool', 'base=172.17.0.0/16,size=16', '--default-address-pool', 'base=172.18.0.0/16,size=16'] });
    await w.berthOk('network', 'create', 'bridge2');
    await w.berthOk('network', 'create', '--subnet', '10.10.0.0/24', '--gateway', '10.10.0.254', '--ip-range', '10.10.0.128/25', 'n3');
    await w.berthOk('network', 'create', '--subnet', '10.5.0.0/30', 'tiny');
    await w.berthOk('run', '-d', '--name', 'a1', '--network', 'n3', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'tiny1', '--network', 'tiny', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'hostc', '--network', 'host', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'nonec', '--network', 'none', '--', 'sleep', '1000');
    await w.berthOk('run', '-d', '--name', 'shared', '--network', 'container:a1', '--', 'sleep', '1000');
    await w.berthOk('run', '--name', 'done', '--', 'true');
  });
  after(() => checkLeaksThenDispose(w));

  // Through the API rather than the CLI: the same records, without a Node start-up per
  // read (this file runs ~30 cases, each reading the state twice).
  const state = async () =>
    Promise.all([
      w.api('GET', '/networks').then((r) => r.body),
      w.api('GET', '/containers/json?all=1').then((r) => r.body.replace(/"Status":"[^"]*"/g, '')),
      w.api('GET', '/containers/a1/json').then((r) => JSON.stringify((JSON.parse(r.body)).NetworkSettings.Networks)),
      listBerthNetns().then((n) => n.join(',')),
      // Names and MACs: a bridge's operational state settles on its own after an attach.
      must('ip', ['-n', w.host, '-j', 'link']).then((out) => (JSON.parse(out) as { ifname: string; address: string }[]).map((l) => `${l.ifname} ${l.address}`).join(',')),
      w.inHost('nft', 'list', 'table', 'ip', 'berth').then((r) => r.stdout),
    ]);

  const cases: [string, string[], RegExp][] = [
    ['overlapping subnet', ['network', 'create', '--subnet', '172.18.5.0/24', 'x'], /^Error: subnet 172\.18\.5\.0\/24 overlaps network bridge2 \(172\.18\.0\.0\/16\)$/m],
    ['subnet overlapping a host route', ['network', 'create', '--subnet', '198.51.100.0/25', 'x'], /^Error: subnet 198\.51\.100\.0\/25 overlaps the host route 198\.51\.100\.0\/24 on uplink0$/m],
    ['invalid CIDR', ['network', 'create', '--subnet', '10.0.0.0/33', 'x'], /^Error: invalid CIDR "10\.0\.0\.0\/33"$/m],
    ['gateway outside the subnet', ['network', 'create', '--subnet', '10.2.0.0/24', '--gateway', '10.3.0.1', 'x'], /^Error: gateway 10\.3\.0\.1 is not a usable address of subnet 10\.2\.0\.0\/24$/m],
    ['ip range outside the subnet', ['network', 'create', '--subnet', '10.2.0.0/24', '--ip-range', '10.9.0.0/25', 'x'], /^Error: ip range 10\.9\.0\.0\/25 is outside subnet 10\.2\.0\.0\/24$/m],
    ['--ip outside the subnet', ['run', '-d', '--network', 'n3', '--ip', '10.99.0.5', '--', 'sleep', '1'], /^Error: address 10\.99\.0\.5 is outside network n3 \(10\.10\.0\.0\/24\)$/m],
    ['--ip already in use', ['run', '-d', '--network', 'n3', '--ip', '10.10.0.128', '--', 'sleep', '1'], /^Error: address 10\.10\.0\.128 is already in use in 10\.10\.0\.0\/24$/m],
    ['--ip on the default bridge', ['run', '-d', '--ip', '172.17.0.9', '--', 'sleep', '1'], /^Error: a user-specified IP address is supported on user-defined networks only$/m],
    ['address pool exhausted', ['run', '-d', '--network', 'tiny', '--', 'sleep', '1'], /^Error: no free IPv4 address left in 10\.5\.0\.0\/30$/m],
    ['subnet pools exhausted', ['network', 'create', 'third'], /^Error: no free subnet in the address pools/m],
    ['duplicate network name', ['network', 'create', 'n3'], /^Error: network with name n3 already exists$/m],
    ['unknown network (inspect)', ['network', 'inspect', 'nonet'], /^Error: network "nonet" not found$/m],
    ['unknown network (rm)', ['network', 'rm', 'nonet'], /^Error: network "nonet" not found$/m],
    ['unknown network (connect)', ['network', 'connect', 'nonet', 'a1'], /^Error: network "nonet" not found$/m],
    ['unknown network (run)', ['run', '-d', '--network', 'nonet', '--', 'sleep', '1'], /^Error: network "nonet" not found$/m],
    ['unknown container (connect)', ['network', 'connect', 'bridge2', 'nope'], /^Error: no such container: nope$/m],
    ['rm of a network with active endpoints', ['network', 'rm', 'n3'], /^Error: network n3 has active endpoints: a1$/m],
    ['rm of a built-in network', ['network', 'rm', 'bridge'], /^Error: bridge is a pre-defined network and cannot be removed$/m],
    ['connecting a host-mode container', ['network', 'connect', 'bridge2', 'hostc'], /^Error: container hostc uses the host network mode: it cannot be connected to networks$/m],
    ['connecting a none-mode container', ['network', 'connect', 'bridge2', 'nonec'], /^Error: container nonec uses the none network mode: it cannot be connected to networks$/m],
    ['connecting a container-mode container', ['network', 'connect', 'bridge2', 'shared'], /^Error: container shared uses container:a1: it cannot be connected to networks$/m],
    ['connecting to the host network', ['network', 'connect', 'host', 'a1'], /^Error: network host cannot be attached to: it is the built-in host network$/m],
    ['container: mode naming a stopped container', ['run', '-d', '--network', 'container:done', '--', 'sleep', '1'], /^Error: cannot join the network namespace of container done: it is not running$/m],
    ['container: mode naming an unknown container', ['run', '-d', '--network', 'container:nope', '--', 'sleep', '1'], /^Error: cannot join the network namespace of container "nope": no such container$/m],
    ['connecting twice to the same network', ['network', 'connect', 'n3', 'a1'], /^Error: container a1 is already connected to network n3$/m],
    ['disconnecting from a network it is not on', ['network', 'disconnect', 'bridge2', 'a1'], /^Error: container a1 is not connected to network bridge2$/m],
    ['removing a container whose namespace is shared', ['rm', '-f', 'a1'], /^Error: cannot remove container "a1": running containers share its network namespace \(shared\)$/m],
    ['unknown driver', ['network', 'create', '-d', 'weave', 'x'], /^Error: unknown network driver "weave"\nHint: accepted drivers: bridge, macvlan(, ipvlan)?$/m],
    ['overlay without a cluster store', ['network', 'create', '-d', 'overlay', 'ov'], /^Error: cannot create a network of driver overlay: overlay networks need a cluster store: start the daemon with --cluster-store$/m],
  ];
  for (const [what, args, message] of cases) {
    test(what, async () => {
      const before = await state();
      const r = await w.berth(...args);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await state(), before);
    });
  }
});
