import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocateHostPorts, type PortProbe } from '../../src/engine/ports.js';
import { parsePortSpec } from '../../src/engine/portspec.js';
import { ConflictError, ExhaustedError } from '../../src/common/errors.js';

const free: PortProbe = () => Promise.resolve(true);
const heldByHost = (ports: number[]): PortProbe => (_proto, _ip, port) => Promise.resolve(!ports.includes(port));
const EPHEMERAL = { first: 49153, last: 49160 };

test('random host ports: the lowest free port of the ephemeral range, skipping published and host-held ones', async () => {
  const taken = [{ protocol: 'tcp' as const, hostIp: '', hostPort: 49153, containerPort: 80, owner: 'web' }];
  const got = await allocateHostPorts([...parsePortSpec('80'), ...parsePortSpec('81')], taken, heldByHost([49154]), EPHEMERAL);
  assert.deepEqual(got.map((p) => p.hostPort), [49155, 49156]);
});

test('a host range for one container port takes its first free port', async () => {
  const got = await allocateHostPorts(parsePortSpec('8000-8010:80'), [], heldByHost([8000, 8001]), EPHEMERAL);
  assert.deepEqual(got, [{ protocol: 'tcp', hostIp: '', hostPort: 8002, containerPort: 80 }]);
});

test('the same port on another protocol or another specific address is no conflict; 0.0.0.0 overlaps every address', async () => {
  const taken = [{ protocol: 'tcp' as const, hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, owner: 'a' }];
  assert.equal((await allocateHostPorts(parsePortSpec('8080:80/udp'), taken, free, EPHEMERAL))[0]!.hostPort, 8080);
  assert.equal((await allocateHostPorts(parsePortSpec('198.51.100.1:8080:80'), taken, free, EPHEMERAL))[0]!.hostPort, 8080);
  await assert.rejects(allocateHostPorts(parsePortSpec('8080:80'), taken, free, EPHEMERAL), (e: unknown) =>
    e instanceof ConflictError && e.message === 'cannot publish 0.0.0.0:8080/tcp: port is already allocated by container a');
});

test('two mappings of one run cannot take the same port; an exhausted range says so', async () => {
  await assert.rejects(allocateHostPorts([...parsePortSpec('9000:80'), ...parsePortSpec('9000:81')], [], free, EPHEMERAL), /cannot publish 0\.0\.0\.0:9000\/tcp: port is already allocated twice in this request/);
  await assert.rejects(allocateHostPorts(parsePortSpec('7000-7001:80'), [], heldByHost([7000, 7001]), EPHEMERAL), (e: unknown) =>
    e instanceof ExhaustedError && e.message === 'no free host port for 80/tcp in 7000-7001');
});
