import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, MissingFeatureError } from '../../src/common/errors.js';
import { builtinDrivers } from '../../src/drivers/registry.js';
import { LINK_KINDS, parseEspProbe, parseProbeOutput } from '../../src/kernel/features.js';

test('the probe counts a kind present unless the kernel answered "Unknown device type"', () => {
  const output = ['#bridge', '#veth', '#macvlan', 'RTNETLINK answers: Invalid argument', '#ipvlan', 'Error: Unknown device type.', '#vlan', 'Error: Unknown device type.', '#dummy', 'Error: Unknown device type.', '#vxlan', ''].join('\n');
  assert.deepEqual([...parseProbeOutput(output)].sort(), ['bridge', 'macvlan', 'veth', 'vxlan']);
});

test('the ESP probe counts IPsec present only when the kernel took the security association silently', () => {
  assert.equal(parseEspProbe('#vxlan\n#esp\n'), true);
  assert.equal(parseEspProbe('#vxlan\n#esp\nError: Requested type not found.\n'), false);
  assert.equal(parseEspProbe('#vxlan\n'), false, 'not asked: not present');
});

test('the registry lists every driver with its availability; creating with an unavailable one names the missing support', () => {
  const features = { linkKinds: new Set(LINK_KINDS.filter((k) => k !== 'ipvlan')) };
  const drivers = builtinDrivers(features);
  assert.deepEqual(
    drivers.list().map((e) => [e.driver.name, e.availability.available]),
    [['bridge', true], ['macvlan', true], ['ipvlan', false], ['overlay', false], ['host', true], ['null', true]],
  );
  assert.throws(() => drivers.forCreate('ipvlan'), (e: unknown) => e instanceof MissingFeatureError && e.message === 'cannot create a network of driver ipvlan: this kernel lacks ipvlan support (CONFIG_IPVLAN)' && e.hint === 'drivers available on this host: bridge, macvlan');
  assert.equal(drivers.forCreate('ipvlan', { planOnly: true }).name, 'ipvlan', 'planning is allowed');
  assert.throws(() => drivers.forCreate('host'), (e: unknown) => e instanceof InvalidArgumentError && /only one instance of the "host" network/.test(e.message));
  assert.throws(() => drivers.forCreate('none'), /only one instance of the "none" network/);
});
