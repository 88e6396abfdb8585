/**
 * A test-only composition root: the real daemon, whose executor breaks plans with a real
 * kernel operation that cannot succeed, chosen by BERTH_TEST_FAIL:
 *  - "attach" (the default): every container attach, midway — after the namespace, the
 *    veth pair and the address exist. It proves that a failed attach leaves nothing.
 *  - "veth-delete": a step that fails just before every deletion of a host veth (network
 *    disconnect's last step). It proves that a failed disconnect leaves kernel and record
 *    as they were. (Deleting a link that is gone succeeds: the failing step is another.)
 *
 * Usage: node faulty-daemon.js --data-root DIR --exec-root DIR (the default executor inside;
 * test/kernel/executors.integration.test.ts checks rollback of every executor directly)
 */
import { join } from 'node:path';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { Executor } from '../../src/kernel/exec.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import type { KernelOp, Plan } from '../../src/kernel/ops.js';

class MidwayFailureExecutor implements Executor {
  constructor(private readonly inner: Executor) {}

  apply(plan: Plan): Promise<void> {
    if (process.env.BERTH_TEST_FAIL === 'veth-delete') {
      const veth = plan.findIndex((op) => op.kind === 'link-del' && op.netns === undefined && op.dev.startsWith('veth'));
      if (veth < 0) return this.inner.apply(plan);
      const impossible: KernelOp = { kind: 'link-up', dev: 'missing0' };
      return this.inner.apply([...plan.slice(0, veth), impossible, ...plan.slice(veth)]);
    }
    const at = plan.findIndex((op) => op.kind === 'addr-add' && op.netns?.startsWith('berth-') === true);
    if (at < 0) return this.inner.apply(plan);
    const target = plan[at] as KernelOp & { netns: string };
    const impossible: KernelOp = { kind: 'addr-add', netns: target.netns, dev: 'missing0', cidr: '192.0.2.1/32' };
    return this.inner.apply([...plan.slice(0, at + 1), impossible, ...plan.slice(at + 1)]);
  }
}

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  const value = process.argv[i + 1];
  if (i < 0 || value === undefined) throw new Error(`missing ${name}`);
  return value;
};

const execRoot = arg('--exec-root');

const daemon = await startDaemon(
  { dataRoot: arg('--data-root'), execRoot, socketPath: join(execRoot, 'berth.sock'), bridge: 'berth0', addressPools: [], dnsServers: [], executor: 'netlink', firewall: 'nftables' },
  new MidwayFailureExecutor(new NetlinkExecutor()),
);
console.log('berth daemon ready (faulty executor)');
await new Promise((resolve) => process.once('SIGTERM', resolve));
await daemon.stop();
