import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIptables, iptablesBackend } from '../../src/firewall/iptables.js';
import { renderOp } from '../../src/kernel/render.js';
import { assertGolden } from '../golden.js';

const model = {
  networks: [
    { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false },
    { bridge: 'br-0123456789ab', subnet: '172.18.0.0/16', internal: true, hostAccess: false },
  ],
  ports: [
    { protocol: 'tcp' as const, hostIp: '', hostPort: 1180, containerIp: '172.17.0.2', containerPort: 5000 },
    { protocol: 'udp' as const, hostIp: '127.0.0.1', hostPort: 5353, containerIp: '172.17.0.2', containerPort: 53 },
  ],
};

test('Docker\'s chain layout with BERTH names, one DNAT and one ACCEPT per port (golden)', () => {
  assertGolden('iptables-ports-two-bridges.rules', compileIptables(model));
});

test('a port change rebuilds berth\'s chains and undoes to the previous model, without re-checking jumps', () => {
  const before = { ...model, ports: [] };
  const op = iptablesBackend.changePorts('p', { before, after: model, added: model.ports, removed: [] });
  assert.equal(op.kind, 'iptables-apply');
  if (op.kind !== 'iptables-apply') return;
  assert.equal(op.undoScript, compileIptables(before));
  assert.doesNotMatch(op.script, /BERTH-USER/);
  assert.deepEqual([op.ensureChains, op.ensureJumps], [[], []]);
});

test('replacing everything (daemon start) ensures BERTH-USER, never flushed, and the jumps from built-in chains', () => {
  const op = iptablesBackend.replaceAll('start', model);
  assert.equal(op.kind, 'iptables-apply');
  if (op.kind !== 'iptables-apply') return;
  assert.doesNotMatch(op.script, /BERTH-USER/);
  assert.match(renderOp(op), /^iptables -t filter -N BERTH-USER 2>\/dev\/null && iptables -t filter -A BERTH-USER -j RETURN\niptables-restore --noflush <<'EOF'/);
  assert.match(renderOp(op), /iptables -t nat -C PREROUTING -m addrtype --dst-type LOCAL -j BERTH 2>\/dev\/null \|\| iptables -t nat -I PREROUTING 1 -m addrtype --dst-type LOCAL -j BERTH/);
});
