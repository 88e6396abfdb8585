import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreateEndpoint, parseCreateNetwork, parsePortMap, parseReleaseAddress, parseRequestAddress, parseRequestPool, portMapView } from '../../src/plugin/protocol.js';

/** dockerd's plugin calls as libnetwork sends them (captured shapes), parsed without a kernel. */

test('CreateNetwork: options from com.docker.network.generic, berth.name taken out, pools without prefixes on gateway and aux', () => {
  const request = parseCreateNetwork(
    {
      NetworkID: 'a'.repeat(64),
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'berth.name': 'shared', parent: 'eth0' } },
      IPv4Data: [{ AddressSpace: 'berth-local', Pool: '10.50.0.0/24', Gateway: '10.50.0.1/24', AuxAddresses: { router: '10.50.0.2/24' } }],
      IPv6Data: [],
    },
    'macvlan',
  );
  assert.deepEqual(request, {
    externalId: 'a'.repeat(64),
    driver: 'macvlan',
    name: 'shared',
    options: { parent: 'eth0' },
    internal: false,
    subnets: [{ subnet: '10.50.0.0/24', gateway: '10.50.0.1', auxAddresses: { router: '10.50.0.2' } }],
  });
  assert.equal(parseCreateNetwork({ NetworkID: 'b', Options: { 'com.docker.network.internal': true } }, 'bridge').internal, true);
});

test('CreateNetwork refuses IPv6 and an empty berth.name, naming what to do', () => {
  assert.throws(() => parseCreateNetwork({ NetworkID: 'a', IPv6Data: [{ Pool: 'fd00::/64' }] }, 'bridge'), /IPv4 only/);
  assert.throws(() => parseCreateNetwork({ NetworkID: 'a', Options: { 'com.docker.network.generic': { 'berth.name': '' } } }, 'bridge'), /berth\.name needs a value/);
  assert.throws(() => parseCreateNetwork({ Options: {} }, 'bridge'), /NetworkID must be a non-empty string/);
});

test('CreateEndpoint: the address and MAC dockerd gives, or none', () => {
  assert.deepEqual(parseCreateEndpoint({ NetworkID: 'n', EndpointID: 'e', Interface: { Address: '10.50.0.3/24', MacAddress: '' } }), { networkId: 'n', endpointId: 'e', address: '10.50.0.3/24' });
  assert.deepEqual(parseCreateEndpoint({ NetworkID: 'n', EndpointID: 'e', Interface: null }), { networkId: 'n', endpointId: 'e' });
  assert.throws(() => parseCreateEndpoint({ NetworkID: 'n', EndpointID: 'e', Interface: { AddressIPv6: 'fd00::2/64' } }), /IPv4 only/);
});

test('the port map of ProgramExternalConnectivity, and back as EndpointOperInfo reports it', () => {
  const { endpointId, mappings } = parsePortMap({
    EndpointID: 'e',
    Options: {
      'com.docker.network.portmap': [
        { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
        { Proto: 17, IP: '', Port: 53, HostIP: '127.0.0.1', HostPort: 0, HostPortEnd: 0 },
        { Proto: 6, IP: '', Port: 90, HostIP: '0.0.0.0', HostPort: 9000, HostPortEnd: 9010 },
      ],
    },
  });
  assert.equal(endpointId, 'e');
  assert.deepEqual(mappings, [
    { protocol: 'tcp', containerPort: 80, hostIp: '', hostPorts: { first: 8080, last: 8080 } },
    { protocol: 'udp', containerPort: 53, hostIp: '127.0.0.1' },
    { protocol: 'tcp', containerPort: 90, hostIp: '', hostPorts: { first: 9000, last: 9010 } },
  ]);
  assert.throws(() => parsePortMap({ EndpointID: 'e', Options: { 'com.docker.network.portmap': [{ Proto: 1, Port: 1 }] } }), /unknown protocol number 1/);
  assert.deepEqual(portMapView([{ protocol: 'udp', hostIp: '', hostPort: 5353, containerPort: 53 }]), [{ Proto: 17, IP: '', Port: 53, HostIP: '0.0.0.0', HostPort: 5353, HostPortEnd: 5353 }]);
});

test('IPAM calls: pools, the gateway request, addresses released without their prefix', () => {
  assert.deepEqual(parseRequestPool({ AddressSpace: 'berth-local', Pool: '10.1.0.0/16', SubPool: '', Options: {}, V6: false }), { pool: '10.1.0.0/16', v6: false });
  assert.deepEqual(parseRequestAddress({ PoolID: 'berth/10.1.0.0/16', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }), { poolId: 'berth/10.1.0.0/16', isGateway: true });
  assert.deepEqual(parseRequestAddress({ PoolID: 'p', Address: '10.1.0.9' }), { poolId: 'p', address: '10.1.0.9', isGateway: false });
  assert.deepEqual(parseReleaseAddress({ PoolID: 'p', Address: '10.1.0.9/16' }), { poolId: 'p', address: '10.1.0.9' });
});
