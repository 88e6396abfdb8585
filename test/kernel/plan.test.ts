import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchesOf, kernelErrorFor } from '../../src/kernel/exec.js';
import { inversePlan, type Plan } from '../../src/kernel/ops.js';
import { renderOp, renderPlan } from '../../src/kernel/render.js';

const attach: Plan = [
  { kind: 'netns-add', name: 'berth-0123456789ab' },
  { kind: 'veth-add', hostName: 'vethabcdef0', master: 'berth0', peerName: 'eth0', peerMac: '02:42:ac:11:00:02', peerNetns: 'berth-0123456789ab' },
  { kind: 'link-up', netns: 'berth-0123456789ab', dev: 'lo' },
  { kind: 'addr-add', netns: 'berth-0123456789ab', dev: 'eth0', cidr: '172.17.0.2/16' },
  { kind: 'link-up', netns: 'berth-0123456789ab', dev: 'eth0' },
  { kind: 'route-add', netns: 'berth-0123456789ab', dst: 'default', via: '172.17.0.1' },
];

test('an attach is two processes: one ip batch per namespace side', () => {
  const batches = batchesOf(attach);
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[0]!.channel, { tool: 'ip' });
  assert.deepEqual(batches[1]!.channel, { tool: 'ip', netns: 'berth-0123456789ab' });
  assert.equal(batches[1]!.ops.length, 4);
});

test('every nft transaction is its own process, sysctls are grouped', () => {
  const batches = batchesOf([
    { kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' },
    { kind: 'nft-apply', description: 'a', script: 'x' },
    { kind: 'nft-apply', description: 'b', script: 'y' },
  ]);
  assert.deepEqual(batches.map((b) => b.channel.tool), ['sysctl', 'nft', 'nft']);
});

test('rendering gives the commands a person would type', () => {
  assert.equal(
    renderPlan(attach),
    [
      'ip netns add berth-0123456789ab',
      'ip link add vethabcdef0 numtxqueues 1 numrxqueues 1 master berth0 up type veth peer name eth0 numtxqueues 1 numrxqueues 1 address 02:42:ac:11:00:02 netns berth-0123456789ab',
      'ip -n berth-0123456789ab link set lo up',
      'ip -n berth-0123456789ab addr add 172.17.0.2/16 dev eth0',
      'ip -n berth-0123456789ab link set eth0 up',
      'ip -n berth-0123456789ab route add default via 172.17.0.1',
    ].join('\n'),
  );
  assert.equal(renderOp({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }), 'sysctl -w net.ipv4.ip_forward=1');
  assert.equal(renderOp({ kind: 'nft-apply', description: 'd', script: 'flush ruleset\n' }), "nft -f - <<'EOF'   # d\nflush ruleset\nEOF");
});

test('the inverse plan undoes creations in reverse order and skips what needs no undo', () => {
  assert.deepEqual(inversePlan(attach), [
    { kind: 'route-del', netns: 'berth-0123456789ab', dst: 'default', via: '172.17.0.1' },
    { kind: 'addr-del', netns: 'berth-0123456789ab', dev: 'eth0', cidr: '172.17.0.2/16' },
    { kind: 'link-del', dev: 'vethabcdef0' },
    { kind: 'netns-del', name: 'berth-0123456789ab' },
  ]);
  assert.deepEqual(inversePlan([{ kind: 'sysctl', key: 'k', value: '1', restore: '0' }]), [{ kind: 'sysctl', key: 'k', value: '0' }]);
  assert.deepEqual(inversePlan([{ kind: 'sysctl', key: 'k', value: '1' }]), []);
});

test('a kernel without veth or bridge support gets an error naming the feature, not ip\'s words', () => {
  const veth = kernelErrorFor(attach[1]!, 'Error: Unknown device type.\nCommand failed -:2\n');
  assert.equal(veth.code, 'missing_feature');
  assert.match(veth.message, /^this kernel lacks veth support \(CONFIG_VETH\): "ip link add vethabcdef0 /);
  const other = kernelErrorFor(attach[3]!, 'Error: ipv4: Address already assigned.\n');
  assert.equal(other.code, 'kernel');
  assert.equal(other.message, 'kernel operation failed: ip -n berth-0123456789ab addr add 172.17.0.2/16 dev eth0: Error: ipv4: Address already assigned.');
});

test('overlay data-plane ops render as the commands a person would type, and undo themselves', () => {
  const plan: Plan = [
    { kind: 'vxlan-add', name: 'vx0', vni: 4242, local: '203.0.113.10', dstport: 4789, mtu: 1450 },
    { kind: 'fdb-replace', dev: 'vx0', mac: '02:42:0a:1e:00:03', dst: '203.0.113.11' },
    { kind: 'neigh-replace', dev: 'vx0', address: '10.30.0.3', mac: '02:42:0a:1e:00:03' },
  ];
  assert.equal(
    renderPlan(plan),
    [
      'ip link add vx0 mtu 1450 type vxlan id 4242 local 203.0.113.10 dstport 4789 nolearning proxy',
      'bridge fdb replace 02:42:0a:1e:00:03 dev vx0 dst 203.0.113.11',
      'ip neigh replace 10.30.0.3 lladdr 02:42:0a:1e:00:03 dev vx0 nud permanent',
    ].join('\n'),
  );
  assert.deepEqual(inversePlan(plan), [
    { kind: 'neigh-del', dev: 'vx0', address: '10.30.0.3' },
    { kind: 'fdb-del', dev: 'vx0', mac: '02:42:0a:1e:00:03', dst: '203.0.113.11' },
    { kind: 'link-del', dev: 'vx0' },
  ]);
  // FDB entries go through one `bridge -batch` process, apart from the `ip` ones around them.
  assert.deepEqual(batchesOf(plan).map((b) => [b.channel.tool, b.ops.length]), [['ip', 1], ['bridge', 1], ['ip', 1]]);
});
