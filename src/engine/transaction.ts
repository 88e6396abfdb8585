import { BerthError } from '../common/errors.js';
import type { Executor } from '../kernel/exec.js';
import { inversePlan, type Plan } from '../kernel/ops.js';

type Undo = () => Promise<void> | void;

/**
 * An engine operation = plan -> apply -> persist. Each step registers how to undo itself;
 * if a later step throws, everything done so far is undone in reverse order and the
 * caller sees the original error (with any undo failure appended, never swallowed).
 */
export class Transaction {
  private readonly undos: Undo[] = [];

  constructor(private readonly executor: Executor) {}

  /** Applies a plan (atomically: the executor rolls back its own partial work). */
  async apply(plan: Plan): Promise<void> {
    if (plan.length === 0) return;
    await this.executor.apply(plan);
    this.undos.push(() => undoBestEffort(this.executor, plan));
  }

  onRollback(undo: Undo): void {
    this.undos.push(undo);
  }

  async rollback(): Promise<string[]> {
    const problems: string[] = [];
    for (const undo of this.undos.reverse()) {
      try {
        await undo();
      } catch (err) {
        problems.push(err instanceof Error ? err.message : String(err));
      }
    }
    return problems;
  }
}

/**
 * Undoes an applied plan step by step, in reverse. Unlike applying, undoing is best
 * effort: a step that fails does not stop the others (stopping would leave more of the
 * change in place), and the error names every step that failed.
 */
export async function undoBestEffort(executor: Executor, plan: Plan): Promise<void> {
  const problems: string[] = [];
  for (const op of inversePlan(plan)) {
    try {
      await executor.apply([op]);
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (problems.length > 0) throw new BerthError('kernel', problems.join('; '));
}

export async function inTransaction<T>(executor: Executor, body: (tx: Transaction) => Promise<T>): Promise<T> {
  const tx = new Transaction(executor);
  try {
    return await body(tx);
  } catch (err) {
    const problems = await tx.rollback();
    if (problems.length === 0) throw err;
    const base = err instanceof BerthError ? err : new BerthError('internal', err instanceof Error ? err.message : String(err));
    throw new BerthError(base.code, `${base.message}; undoing it also failed: ${problems.join('; ')}`, base.hint, { cause: err });
  }
}
