import type { Executor } from '../kernel/exec.js';
import type { Plan } from '../kernel/ops.js';

/**
 * When berth itself last changed the kernel: the netlink events of the host and of the
 * sandboxes do not say who made a change, so drift repair takes events during one of
 * berth's plans, or shortly after, for berth's own and checks once things are quiet.
 * Only plans count — a drift check that finds nothing changes nothing and delays nothing.
 */
export class OwnKernelChanges {
  private applying = 0;
  private endedAt = 0;

  /** `executor`, with each plan it applies counted as berth's own change. */
  track(executor: Executor): Executor {
    return {
      apply: async (plan: Plan) => {
        this.applying++;
        try {
          await executor.apply(plan);
        } finally {
          this.applying--;
          this.endedAt = Date.now();
        }
      },
    };
  }

  /** Milliseconds until no plan of berth's has run for `quietMs`: 0 when that is so now. */
  untilQuiet(quietMs: number): number {
    if (this.applying > 0) return quietMs;
    return Math.max(0, this.endedAt + quietMs - Date.now());
  }
}
