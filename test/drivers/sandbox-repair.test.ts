import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sandboxRepairOps } from '../../src/drivers/driver.js';
import type { KernelOp } from '../../src/kernel/ops.js';
import type { RoutingState } from '../../src/kernel/sandbox-routing.js';

const NS = 'berth-0123456789ab';
const JOIN: KernelOp[] = [
  { kind: 'veth-add', hostName: 'veth1234567', master: 'berth0', peerName: 'eth0', peerMac: '02:42:ac:11:00:02', peerNetns: NS },
  { kind: 'addr-add', netns: NS, dev: 'eth0', cidr: '172.17.0.2/16' },
  { kind: 'link-up', netns: NS, dev: 'eth0' },
  { kind: 'route-add', netns: NS, dst: 'default', via: '172.17.0.1' },
];

function state(eth0: { up: boolean; addresses: string[] }, defaultRoute?: RoutingState['defaultRoute']): RoutingState {
  return { links: new Map([['lo', { up: true, addresses: ['127.0.0.1/8'] }], ['eth0', eth0]]), ...(defaultRoute ? { defaultRoute } : {}) };
}

test('a sandbox as its join left it needs nothing', () => {
  assert.deepEqual(sandboxRepairOps(NS, JOIN, state({ up: true, addresses: ['172.17.0.2/16'] }, { via: '172.17.0.1', dev: 'eth0' })), []);
});

test('a flushed address and the default route it took are put back, in the join\'s order', () => {
  assert.deepEqual(sandboxRepairOps(NS, JOIN, state({ up: true, addresses: [] })), [JOIN[1], JOIN[3]]);
});

test('a link set down comes up; the veth itself is never re-made here (that is the driver\'s repair)', () => {
  assert.deepEqual(sandboxRepairOps(NS, JOIN, state({ up: false, addresses: ['172.17.0.2/16'] }, { via: '172.17.0.1' })), [JOIN[2]]);
});

test('a default route someone replaced with another is theirs: left alone', () => {
  assert.deepEqual(sandboxRepairOps(NS, JOIN, state({ up: true, addresses: ['172.17.0.2/16'] }, { via: '172.17.0.254', dev: 'eth0' })), []);
});

test('ops of another namespace are not this sandbox\'s', () => {
  const elsewhere: KernelOp[] = [{ kind: 'addr-add', netns: 'berth-other', dev: 'eth0', cidr: '10.0.0.2/24' }];
  assert.deepEqual(sandboxRepairOps(NS, elsewhere, state({ up: true, addresses: [] })), []);
});
