import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerTable } from '../../src/engine/containers.js';
import { initialState, type ContainerRecord } from '../../src/engine/model.js';
import { EMPTY_RESOLV_CONF } from '../../src/dns/resolvconf.js';

function container(id: string, name: string, hostIfnames: readonly string[]): ContainerRecord {
  return {
    id: id.padEnd(64, '0'), name, created: '2026-12-01T00:00:00.000Z', hostname: name, command: ['sleep', '1'], env: [], labels: {}, autoRemove: false,
    networkMode: 'bridge', netns: `berth-${id}`, networks: [],
    endpoints: hostIfnames.map((hostIfname, n) => ({ id: `${id}ep${n}`.padEnd(64, '0'), networkId: `net${n}`, ifname: `eth${n}`, hostIfname, address: `10.0.${n}.2`, prefixLength: 24, mac: '02:42:0a:00:00:02', gateway: `10.0.${n}.1`, gatewayEndpoint: n === 0 })),
    dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: true, portMappings: [], ports: [], state: initialState(),
  };
}

test('names and host-side veth names follow every set, rename and removal', () => {
  const table = new ContainerTable();
  const taken = table.takenHostIfnames();
  table.set(container('aa', 'web', ['vethaaaaaaa']));
  table.set(container('bb', 'db', ['vethbbbbbbb', 'vethbbbbbb2']));
  assert.deepEqual([...taken].sort(), ['vethaaaaaaa', 'vethbbbbbb2', 'vethbbbbbbb']);
  assert.equal(table.find('web')?.id, 'aa'.padEnd(64, '0'));
  assert.equal(table.find('/db')?.id, 'bb'.padEnd(64, '0'));

  // A rename frees the old name; a restart with new endpoints frees the old veth names.
  table.set(container('aa', 'front', ['vethccccccc']));
  assert.equal(table.find('web'), undefined);
  assert.equal(table.nameTaken('front')?.id, 'aa'.padEnd(64, '0'));
  assert.deepEqual([...taken].sort(), ['vethbbbbbb2', 'vethbbbbbbb', 'vethccccccc']);

  table.remove('bb'.padEnd(64, '0'));
  assert.equal(table.find('db'), undefined);
  assert.deepEqual([...taken], ['vethccccccc']);
  // Id prefixes still find a container; an ambiguous one is refused.
  table.set(container('ab', 'other', []));
  assert.equal(table.find('aa')?.name, 'front');
  assert.throws(() => table.find('a'), /ambiguous/);
});
