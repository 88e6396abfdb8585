import type { Executor } from './exec.js';
import type { KernelOp, Plan } from './ops.js';

/** An executor that changes nothing and keeps what it was asked to apply: for planning without a kernel to change. */
export class RecordingExecutor implements Executor {
  readonly applied: KernelOp[] = [];

  apply(plan: Plan): Promise<void> {
    this.applied.push(...plan);
    return Promise.resolve();
  }
}
