import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { resolveContainerConfig, type CreateContainerRequest } from '../../src/engine/container-config.js';
import { allocateEndpoints, nextIfname } from '../../src/engine/endpoints.js';
import { initialState, type ContainerRecord } from '../../src/engine/model.js';
import { engineTables } from './fixtures.js';
import { EMPTY_RESOLV_CONF } from '../../src/dns/resolvconf.js';

async function world() {
  const tables = await engineTables();
  await tables.create({ name: 'auto' });
  await tables.create({ name: 'n3', ipam: [{ subnet: '10.10.0.0/24', gateway: '10.10.0.254', ipRange: '10.10.0.128/25', auxAddresses: { r: '10.10.0.253' } }] });
  await tables.create({ name: 'backend', internal: true, ipam: [{ subnet: '10.20.0.0/24', auxAddresses: {} }] });
  await tables.create({ name: 'lan', driver: 'macvlan', options: { parent: 'uplink0' }, ipam: [{ subnet: '192.0.2.0/24', auxAddresses: {} }] });
  const bb1: ContainerRecord = {
    id: 'fca1467bc863'.padEnd(64, '1'), name: 'bb1', created: '', hostname: 'bb1', command: ['sleep'], env: [], labels: {}, autoRemove: false,
    networkMode: 'bridge', netns: 'berth-fca1467bc863', networks: [], dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: false, endpoints: [], portMappings: [], ports: [], state: initialState(),
  };
  tables.containers.set(bb1);
  return { ...tables, bb1 };
}

function req(over: Partial<CreateContainerRequest> = {}): CreateContainerRequest {
  return { name: 'c', command: ['sleep'], env: [], labels: {}, networkMode: 'bridge', endpoint: { aliases: [] }, autoRemove: false, portMappings: [], dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], ...over };
}

const NEW_ID = '3f2a9c01d4e5'.padEnd(64, '7');

const PORT = { protocol: 'tcp', hostIp: '', hostPorts: { first: 8081, last: 8081 }, containerPort: 8080 } as const;

test('bridge mode: the network named, with --ip, --mac-address and aliases checked and kept', async () => {
  const t = await world();
  const c = await resolveContainerConfig(req({ networkMode: 'n3', endpoint: { aliases: ['db'], ipv4Address: '10.10.0.9', macAddress: '02:42:AC:12:00:99' } }), t, NEW_ID);
  assert.equal(c.networkMode, 'n3');
  assert.deepEqual(c.networks, [{ networkId: t.networks.get('n3').id, aliases: ['db'], ipv4Address: '10.10.0.9', macAddress: '02:42:ac:12:00:99' }]);
  assert.equal((await resolveContainerConfig(req({ networkMode: 'default' }), t, NEW_ID)).networkMode, 'bridge');
});

test('host and none modes drop published ports with Docker\'s warning; host mode takes the host\'s name', async () => {
  const t = await world();
  const host = await resolveContainerConfig(req({ networkMode: 'host', portMappings: [PORT] }), t, NEW_ID);
  assert.deepEqual([host.networks, host.portMappings, host.warnings], [[], [], ['Published ports are discarded when using host network mode']]);
  assert.notEqual(host.hostname, 'c');
  const none = await resolveContainerConfig(req({ networkMode: 'none' }), t, NEW_ID);
  assert.deepEqual([none.networkMode, none.hostname, none.warnings], ['none', '3f2a9c01d4e5', []]);
});

test('container: mode stores the peer\'s full id and takes its hostname', async () => {
  const t = await world();
  const c = await resolveContainerConfig(req({ networkMode: 'container:bb1' }), t, NEW_ID);
  assert.deepEqual([c.networkMode, c.hostname, c.networks], [`container:${t.bb1.id}`, 'bb1', []]);
});

test('an internal network takes no published ports, with a warning', async () => {
  const c = await resolveContainerConfig(req({ networkMode: 'backend', portMappings: [PORT] }), await world(), NEW_ID);
  assert.deepEqual([c.portMappings, c.warnings], [[], ['Published ports are discarded on the internal network backend']]);
});

test('a macvlan network takes no published ports, with a warning naming its driver', async () => {
  const c = await resolveContainerConfig(req({ networkMode: 'lan', portMappings: [PORT] }), await world(), NEW_ID);
  assert.deepEqual([c.portMappings, c.warnings], [[], ['Published ports are discarded on the macvlan network lan: it has no port mapping']]);
});

test('bad network options are refused with what was wrong', async () => {
  const t = await world();
  await t.ipam.allocate(t.networks.get('n3').id, '10.10.0.128'); // in use
  const cases: [string, CreateContainerRequest, new (...a: never[]) => Error, RegExp][] = [
    ['unknown network', req({ networkMode: 'nonet' }), NotFoundError, /network "nonet" not found/],
    ['unknown container: peer', req({ networkMode: 'container:nope' }), InvalidArgumentError, /cannot join the network namespace of container "nope": no such container/],
    ['empty container:', req({ networkMode: 'container:' }), InvalidArgumentError, /it names no container/],
    ['--ip on the default bridge', req({ endpoint: { aliases: [], ipv4Address: '172.17.0.9' } }), InvalidArgumentError, /user-specified IP address is supported on user-defined networks only/],
    ['--ip on a pool subnet', req({ networkMode: 'auto', endpoint: { aliases: [], ipv4Address: '172.18.0.9' } }), InvalidArgumentError, /needs a network with a user-configured subnet/],
    ['--ip outside the subnet', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.99.0.5' } }), InvalidArgumentError, /address 10\.99\.0\.5 is outside network n3 \(10\.10\.0\.0\/24\)/],
    ['--ip in use', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.128' } }), ConflictError, /address 10\.10\.0\.128 is already in use/],
    ['--ip = gateway', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.254' } }), ConflictError, /it is the gateway/],
    ['--ip = aux address', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.253' } }), ConflictError, /it is auxiliary address "r"/],
    ['--ip = broadcast', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.255' } }), InvalidArgumentError, /not a usable address of 10\.10\.0\.0\/24/],
    ['bad --ip', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0' } }), InvalidArgumentError, /invalid IPv4 address "10\.10\.0"/],
    ['multicast MAC', req({ networkMode: 'n3', endpoint: { aliases: [], macAddress: '01:00:5e:00:00:01' } }), InvalidArgumentError, /invalid MAC address "01:00:5e:00:00:01"/],
    ['malformed MAC', req({ endpoint: { aliases: [], macAddress: '02:42:ac' } }), InvalidArgumentError, /invalid MAC address/],
    ['alias on the default bridge', req({ endpoint: { aliases: ['db'] } }), InvalidArgumentError, /aliases are supported only for containers on user-defined networks/],
    ['--ip with host mode', req({ networkMode: 'host', endpoint: { aliases: [], ipv4Address: '10.10.0.9' } }), InvalidArgumentError, /conflicting options: --ip and the host network mode/],
    ['--mac-address with none mode', req({ networkMode: 'none', endpoint: { aliases: [], macAddress: '02:42:ac:12:00:99' } }), InvalidArgumentError, /conflicting options: --mac-address and the none network mode/],
    ['-h with container: mode', req({ networkMode: 'container:bb1', hostname: 'x' }), InvalidArgumentError, /conflicting options: --hostname and network mode container:bb1/],
    ['an all-zero MAC', req({ networkMode: 'n3', endpoint: { aliases: [], macAddress: '00:00:00:00:00:00' } }), InvalidArgumentError, /invalid MAC address "00:00:00:00:00:00"/],
    ['a NUL in Env', req({ env: ['A=1\0B'] }), InvalidArgumentError, /invalid environment variable "A=1\\0B": it holds a NUL character/],
    ['a NUL in Cmd', req({ command: ['sleep', '1\0'] }), InvalidArgumentError, /invalid command argument "1\\0": it holds a NUL character/],
    ['-p with container: mode', req({ networkMode: 'container:bb1', portMappings: [PORT] }), InvalidArgumentError, /conflicting options: port publishing and network mode container:bb1/],
  ];
  for (const [what, request, type, message] of cases) {
    await assert.rejects(async () => resolveContainerConfig(request, t, NEW_ID), (e: unknown) => e instanceof type && message.test(e.message), what);
  }
  // Checking an --ip did not take it.
  assert.equal(await t.ipam.allocate(t.networks.get('n3').id, '10.10.0.9'), '10.10.0.9');
});

test('endpoints: the first network with a way out carries the default route; an internal one never does', async () => {
  const t = await world();
  const att = (name: string) => ({ networkId: t.networks.get(name).id, aliases: [] });
  const eps = await allocateEndpoints(t.networks, t.ipam, [att('backend'), att('n3'), att('bridge')], new Set());
  assert.deepEqual(eps.map((e) => [e.ifname, e.address, e.gatewayEndpoint]), [
    ['eth0', '10.20.0.2', false],
    ['eth1', '10.10.0.128', true],
    ['eth2', '172.17.0.2', false],
  ]);
  assert.equal(nextIfname([{ ifname: 'eth0' }, { ifname: 'eth2' }]), 'eth1');
});

test('allocating endpoints is all or nothing: a static address in use gives back the ones taken', async () => {
  const t = await world();
  const n3 = t.networks.get('n3').id;
  await t.ipam.allocate(n3, '10.10.0.9');
  await assert.rejects(async () => allocateEndpoints(t.networks, t.ipam, [{ networkId: t.networks.get('bridge').id, aliases: [] }, { networkId: n3, aliases: [], ipv4Address: '10.10.0.9' }], new Set()), ConflictError);
  // The default bridge's address was given back: the next allocation gets it again.
  assert.equal(await t.ipam.allocate(t.networks.get('bridge').id), '172.17.0.2');
});

test('the hostname is the id\'s first 12 hex digits, whatever the name (compose\'s proj_web_1, 128 characters), unless one is given', async () => {
  const t = await world();
  for (const name of ['proj_web_1', 'x'.repeat(128), undefined]) {
    assert.equal((await resolveContainerConfig(req({ name }), t, NEW_ID)).hostname, '3f2a9c01d4e5', String(name));
  }
  assert.equal((await resolveContainerConfig(req({ hostname: 'web_1.example' }), t, NEW_ID)).hostname, 'web_1.example');
  await assert.rejects(async () => resolveContainerConfig(req({ hostname: 'a b' }), t, NEW_ID), /invalid hostname "a b"/);
  await assert.rejects(async () => resolveContainerConfig(req({ hostname: 'h'.repeat(5000) }), t, NEW_ID), (e: unknown) => e instanceof Error && e.message.length < 200);
});
