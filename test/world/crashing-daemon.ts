/**
 * A test-only composition root: the real daemon, which kills itself with SIGKILL at a
 * chosen moment, reproduced exactly:
 *  - BERTH_TEST_CRASH_AT=POINT: the first time it reaches that fault point (FaultPoint),
 *    between a kernel change and the record of it;
 *  - BERTH_TEST_CRASH_AFTER_OPS=N: once it has applied N kernel operations since it was
 *    ready (start+N: since it started, its start's reconcile included), in the middle of a
 *    plan or at its end — between two kernel steps, or after a whole plan and before its
 *    caller writes the record.
 * Without either it is the plain daemon. Restarting it on the same roots then shows what
 * reconcile makes of the crash. And:
 *  - BERTH_TEST_INIT=PATH: the containers' launcher is PATH instead of berth-init (a script
 *    that runs berth-init's launcher and holds back some of its answers).
 *
 * Usage: [BERTH_TEST_CRASH_...=...] node crashing-daemon.js --data-root DIR --exec-root DIR
 */
import { join } from 'node:path';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { FaultPoint } from '../../src/engine/engine.js';
import type { Executor } from '../../src/kernel/exec.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import { findLaunchTools } from '../../src/kernel/launch-tools.js';
import type { Plan } from '../../src/kernel/ops.js';

/** Applies plans until `budget` operations are done (counting once armed), then dies where it stands. */
class CrashingExecutor implements Executor {
  private applied = 0;

  constructor(
    private readonly inner: Executor,
    private readonly budget: number,
    public armed: boolean,
  ) {}

  async apply(plan: Plan): Promise<void> {
    if (!this.armed) return this.inner.apply(plan);
    const left = this.budget - this.applied;
    if (plan.length < left) {
      this.applied += plan.length;
      return this.inner.apply(plan);
    }
    if (left > 0) await this.inner.apply(plan.slice(0, left));
    process.kill(process.pid, 'SIGKILL');
  }
}

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  const value = process.argv[i + 1];
  if (i < 0 || value === undefined) throw new Error(`missing ${name}`);
  return value;
};

const crashAt = process.env.BERTH_TEST_CRASH_AT as FaultPoint | undefined;
const budget = /^(start\+)?(\d+)$/.exec(process.env.BERTH_TEST_CRASH_AFTER_OPS ?? '');
const crashAfterOps = budget ? Number(budget[2]) : undefined;
const execRoot = arg('--exec-root');
const crashing = crashAfterOps === undefined ? undefined : new CrashingExecutor(new NetlinkExecutor(), crashAfterOps, budget?.[1] !== undefined);

const daemon = await startDaemon(
  { dataRoot: arg('--data-root'), execRoot, socketPath: join(execRoot, 'berth.sock'), bridge: 'berth0', addressPools: [], dnsServers: [], executor: 'netlink', firewall: 'nftables' },
  crashing ?? new NetlinkExecutor(),
  (point) => {
    if (point === crashAt) process.kill(process.pid, 'SIGKILL');
  },
  process.env.BERTH_TEST_INIT ? { ...findLaunchTools(), init: process.env.BERTH_TEST_INIT } : undefined,
);
if (crashing) crashing.armed = true;
console.log(`berth daemon ready (crashes at ${crashAt ?? (crashAfterOps === undefined ? 'nothing' : `${process.env.BERTH_TEST_CRASH_AFTER_OPS} kernel operations`)})`);
await new Promise((resolve) => process.once('SIGTERM', resolve));
await daemon.stop();
