import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FirewallBackend } from '../../src/firewall/backend.js';
import { iptablesBackend } from '../../src/firewall/iptables.js';
import type { FirewallModel } from '../../src/firewall/model.js';
import { nftablesBackend } from '../../src/firewall/nftables.js';
import { BatchExecutor } from '../../src/kernel/exec.js';
import { must, run, sandboxSkip } from '../world/world.js';

/**
 * Isolation between bridge networks, for both backends, through the library (user-defined
 * networks come with part 3): two bridges with one namespace each, in the sandbox.
 */
const MODEL: FirewallModel = {
  networks: [
    { bridge: 'isoA', subnet: '10.31.0.0/24', internal: false, hostAccess: false },
    { bridge: 'isoB', subnet: '10.32.0.0/24', internal: false, hostAccess: false },
  ],
  ports: [],
};

const ping = async (ns: string, ip: string) => (await run('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', ip])).code === 0;

describe('bridge networks are isolated from each other', { skip: sandboxSkip }, () => {
  before(async () => {
    for (const [br, ns, net] of [['isoA', 'iso-a', '10.31.0'], ['isoB', 'iso-b', '10.32.0']] as const) {
      for (const line of [
        `link add ${br} type bridge`, `addr add ${net}.1/24 dev ${br}`, `link set ${br} up`, `netns add ${ns}`,
        `link add v${ns} master ${br} up type veth peer name eth0 netns ${ns}`, `-n ${ns} addr add ${net}.2/24 dev eth0`,
        `-n ${ns} link set eth0 up`, `-n ${ns} route add default via ${net}.1`,
      ]) await must('ip', line.split(' '));
    }
    await must('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  });
  after(async () => {
    for (const name of ['iso-a', 'iso-b']) await run('ip', ['netns', 'del', name]);
    for (const name of ['isoA', 'isoB']) await run('ip', ['link', 'del', name]);
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=0']);
  });

  test('without berth\'s rules the two namespaces reach each other (the control)', async () => {
    assert.equal(await ping('iso-a', '10.32.0.2'), true);
  });

  const cleanup: Record<string, string[][]> = {
    nftables: [['nft', 'delete', 'table', 'ip', 'berth']],
    iptables: [['iptables', '-F', 'BERTH-FORWARD'], ['iptables', '-F', 'BERTH-ISOLATION-STAGE-1'], ['iptables', '-t', 'nat', '-F', 'BERTH-POSTROUTING']],
  };
  for (const backend of [nftablesBackend, iptablesBackend] as FirewallBackend[]) {
    test(`${backend.name}: A cannot reach B nor B A; each still reaches its gateway`, async () => {
      await new BatchExecutor().apply([backend.replaceAll('isolation test', MODEL)]);
      try {
        assert.equal(await ping('iso-a', '10.32.0.2'), false);
        assert.equal(await ping('iso-b', '10.31.0.2'), false);
        assert.equal(await ping('iso-a', '10.31.0.1'), true);
        assert.equal(await ping('iso-b', '10.32.0.1'), true);
      } finally {
        for (const cmd of cleanup[backend.name]!) await run(cmd[0]!, cmd.slice(1));
      }
      assert.equal(await ping('iso-a', '10.32.0.2'), true, 'the rules were what blocked it');
    });
  }
});
