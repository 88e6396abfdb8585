import { test } from 'node:test';
import assert from 'node:assert/strict';
import { portFlags } from '../../src/cli/commands/run.js';
import { parsePortBindings } from '../../src/common/portspec.js';

test('-p and --expose become Docker\'s ExposedPorts and PortBindings, and parse back to the same mappings', () => {
  const publish = ['8000-8010:80', '9000-9001:7000-7001/udp', '127.0.0.1::53', '1180:5000'];
  const { exposed, bindings } = portFlags(publish, ['6000/tcp']);
  assert.deepEqual(bindings, {
    '80/tcp': [{ HostIp: '', HostPort: '8000-8010' }],
    '7000/udp': [{ HostIp: '', HostPort: '9000' }],
    '7001/udp': [{ HostIp: '', HostPort: '9001' }],
    '53/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }],
    '5000/tcp': [{ HostIp: '', HostPort: '1180' }],
  });
  assert.deepEqual(Object.keys(exposed).sort(), ['5000/tcp', '53/tcp', '6000/tcp', '7000/udp', '7001/udp', '80/tcp']);
  assert.equal(parsePortBindings(bindings, exposed, false).length, 5);
  assert.throws(() => portFlags([], ['1:80']), /invalid --expose "1:80": give only container ports/);
});
