import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateHostPorts } from '../../src/engine/ports.js';
import { parseSockets, UNKNOWN_HOST_PORTS, type HostPorts } from '../../src/kernel/host-ports.js';
import { parsePortSpec } from '../../src/common/portspec.js';
import { ConflictError, ExhaustedError, InvalidArgumentError } from '../../src/common/errors.js';

const free: HostPorts = UNKNOWN_HOST_PORTS;
const heldByHost = (ports: number[]): HostPorts => ({ isLocalAddress: () => true, inUse: (_proto, _ip, port) => ports.includes(port) });
const EPHEMERAL = { first: 49153, last: 49160 };

test('random host ports: the lowest free port of the ephemeral range, skipping published and host-held ones', () => {
  const taken = [{ protocol: 'tcp' as const, hostIp: '', hostPort: 49153, containerPort: 80, owner: 'web' }];
  const got = allocateHostPorts([...parsePortSpec('80'), ...parsePortSpec('81')], taken, heldByHost([49154]), EPHEMERAL);
  assert.deepEqual(got.map((p) => p.hostPort), [49155, 49156]);
});

test('a host range for one container port takes its first free port', () => {
  const got = allocateHostPorts(parsePortSpec('8000-8010:80'), [], heldByHost([8000, 8001]), EPHEMERAL);
  assert.deepEqual(got, [{ protocol: 'tcp', hostIp: '', hostPort: 8002, containerPort: 80 }]);
});

test('the same port on another protocol or another specific address is no conflict; 0.0.0.0 overlaps every address', () => {
  const taken = [{ protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, owner: 'a' }];
  assert.equal((allocateHostPorts(parsePortSpec('8080:80/udp'), taken, free, EPHEMERAL))[0]!.hostPort, 8080);
  assert.equal((allocateHostPorts(parsePortSpec('198.51.100.1:8080:80'), taken, free, EPHEMERAL))[0]!.hostPort, 8080);
  assert.throws(() => allocateHostPorts(parsePortSpec('8080:80'), taken, free, EPHEMERAL), (e: unknown) =>
    e instanceof ConflictError && e.message === 'cannot publish 0.0.0.0:8080/tcp: port is already allocated by container a');
});

test('two mappings of one run cannot take the same port; an exhausted range says so', () => {
  assert.throws(() => allocateHostPorts([...parsePortSpec('9000:80'), ...parsePortSpec('9000:81')], [], free, EPHEMERAL), /cannot publish 0\.0\.0\.0:9000\/tcp: port is already allocated twice in this request/);
  assert.throws(() => allocateHostPorts(parsePortSpec('7000-7001:80'), [], heldByHost([7000, 7001]), EPHEMERAL), (e: unknown) =>
    e instanceof ExhaustedError && e.message === 'no free host port for 80/tcp in 7000-7001');
});

test('an address that is not the host\'s is named as such, not as a port in use', () => {
  const host: HostPorts = { isLocalAddress: (ip) => ip === '' || ip === '198.51.100.1', inUse: () => false };
  assert.throws(() => allocateHostPorts(parsePortSpec('1.2.3.4:8080:80'), [], host, EPHEMERAL), (e: unknown) =>
    e instanceof InvalidArgumentError && e.message === 'cannot publish 1.2.3.4:8080/tcp: 1.2.3.4 is not an address of this host');
  assert.equal(allocateHostPorts(parsePortSpec('198.51.100.1:8080:80'), [], host, EPHEMERAL)[0]!.hostPort, 8080);
});

test('10,000 ports in one request are allocated in one pass (no per-port scan of the others)', () => {
  const taken = Array.from({ length: 10_000 }, (_, i) => ({ protocol: 'tcp' as const, hostIp: '', hostPort: 20_000 + i, containerPort: 80, owner: 'big' }));
  const got = allocateHostPorts(parsePortSpec('30000-39999:30000-39999'), taken, free, EPHEMERAL);
  assert.equal(got.length, 10_000);
  assert.deepEqual([got[0]!.hostPort, got.at(-1)!.hostPort], [30000, 39999]);
});

test('/proc/net sockets: listening TCP and bound UDP, wildcards and IPv4-mapped IPv6 addresses', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1',
    '   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
  ].join('\n');
  assert.deepEqual(parseSockets(tcp, true), [{ ip: '127.0.0.1', port: 8080 }, { ip: '', port: 80 }]);
  const tcp6 = [
    '  sl  local_address                         remote_address                        st',
    '   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A',
    '   1: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A',
  ].join('\n');
  assert.deepEqual(parseSockets(tcp6, true), [{ ip: '', port: 8081 }, { ip: '127.0.0.1', port: 8082 }]);
});
