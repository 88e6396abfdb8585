/**
 * Serialises the engine's mutating operations: IPAM, names and the ruleset are shared
 * state, and each operation is a few milliseconds, so one queue is simpler than finer locks.
 */
export class OperationQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.tail.then(operation, operation);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
