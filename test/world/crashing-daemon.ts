/**
 * A test-only composition root: the real daemon, which kills itself with SIGKILL the
 * first time it reaches the fault point named by BERTH_TEST_CRASH_AT (see FaultPoint):
 * a crash between a kernel change and the record of it, reproduced exactly. Restarting
 * the plain daemon on the same roots then shows what reconcile makes of it.
 *
 * Usage: BERTH_TEST_CRASH_AT=POINT node crashing-daemon.js --data-root DIR --exec-root DIR
 */
import { join } from 'node:path';
import { startDaemon } from '../../src/daemon/daemon.js';
import type { FaultPoint } from '../../src/engine/engine.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';

const arg = (name: string): string => {
  const i = process.argv.indexOf(name);
  const value = process.argv[i + 1];
  if (i < 0 || value === undefined) throw new Error(`missing ${name}`);
  return value;
};

const crashAt = process.env.BERTH_TEST_CRASH_AT as FaultPoint | undefined;
const execRoot = arg('--exec-root');

const daemon = await startDaemon(
  { dataRoot: arg('--data-root'), execRoot, socketPath: join(execRoot, 'berth.sock'), bridge: 'berth0', addressPools: [], dnsServers: [], executor: 'netlink', firewall: 'nftables' },
  new NetlinkExecutor(),
  (point) => {
    if (point === crashAt) process.kill(process.pid, 'SIGKILL');
  },
);
console.log(`berth daemon ready (crashes at ${crashAt ?? 'nothing'})`);
await new Promise((resolve) => process.once('SIGTERM', resolve));
await daemon.stop();
