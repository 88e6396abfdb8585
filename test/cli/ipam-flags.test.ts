import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipamConfigsOf } from '../../src/cli/ipam-flags.js';

const none = { subnets: [], gateways: [], ipRanges: [], auxAddresses: {} };

test('one subnet or none: the flags form one config as given, for the daemon to check', () => {
  assert.deepEqual(ipamConfigsOf(none), []);
  assert.deepEqual(ipamConfigsOf({ ...none, gateways: ['10.0.0.1'] }), [{ Subnet: undefined, Gateway: '10.0.0.1', IPRange: undefined, AuxiliaryAddresses: {} }]);
  assert.deepEqual(ipamConfigsOf({ ...none, subnets: ['10.0.0.0/24'], gateways: ['10.9.0.1'] }), [{ Subnet: '10.0.0.0/24', Gateway: '10.9.0.1', IPRange: undefined, AuxiliaryAddresses: {} }]);
  assert.throws(() => ipamConfigsOf({ ...none, subnets: ['10.0.0.0/24'], gateways: ['10.0.0.1', '10.0.0.2'] }), /--gateway given 2 times for one subnet/);
});

test('several subnets: gateways, ranges and aux addresses go to the subnet holding them, whatever the flag order', () => {
  assert.deepEqual(
    ipamConfigsOf({ subnets: ['10.1.0.0/24', '10.2.0.0/24'], gateways: ['10.2.0.254', '10.1.0.254'], ipRanges: ['10.2.0.128/25'], auxAddresses: { nas: '10.1.0.9' } }),
    [
      { Subnet: '10.1.0.0/24', Gateway: '10.1.0.254', AuxiliaryAddresses: { nas: '10.1.0.9' } },
      { Subnet: '10.2.0.0/24', Gateway: '10.2.0.254', IPRange: '10.2.0.128/25', AuxiliaryAddresses: {} },
    ],
  );
});

test('several subnets: what fits no subnet, two of a kind for one subnet and overlapping subnets are errors', () => {
  const two = { ...none, subnets: ['10.1.0.0/24', '10.2.0.0/24'] };
  assert.throws(() => ipamConfigsOf({ ...two, gateways: ['10.3.0.1'] }), /^InvalidArgumentError: no matching subnet for --gateway 10\.3\.0\.1$/);
  assert.throws(() => ipamConfigsOf({ ...two, ipRanges: ['10.3.0.0/25'] }), /no matching subnet for --ip-range 10\.3\.0\.0\/25/);
  assert.throws(() => ipamConfigsOf({ ...two, auxAddresses: { x: '10.3.0.1' } }), /no matching subnet for --aux-address 10\.3\.0\.1/);
  assert.throws(() => ipamConfigsOf({ ...two, gateways: ['10.1.0.1', '10.1.0.2'] }), /cannot configure two gateways \(10\.1\.0\.1, 10\.1\.0\.2\) for subnet 10\.1\.0\.0\/24/);
  assert.throws(() => ipamConfigsOf({ ...two, ipRanges: ['10.1.0.0/25', '10.1.0.128/25'] }), /cannot configure two ranges/);
  assert.throws(() => ipamConfigsOf({ ...none, subnets: ['10.1.0.0/16', '10.1.2.0/24'] }), /subnets 10\.1\.0\.0\/16 and 10\.1\.2\.0\/24 overlap/);
});
