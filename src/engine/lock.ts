/**
 * Serialises the engine's mutating operations: IPAM, names and the ruleset are shared
 * state, and each operation is a few milliseconds, so one queue is simpler than finer locks.
 */
export class OperationQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private settledAt = 0;

  run<T>(operation: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => undefined).finally(() => {
      this.pending--;
      this.settledAt = Date.now();
    });
    return result;
  }

  /** Whether an operation is queued or running, or one ended within `quietMs`: kernel events now are most likely its own. */
  recentlyBusy(quietMs: number): boolean {
    return this.pending > 0 || Date.now() - this.settledAt < quietMs;
  }
}
