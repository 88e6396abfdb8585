/**
 * A count of a table's changes, with watchers: views derived from the table know when to
 * rebuild by the count (the DNS name index), and watchers learn of each change at once
 * (the DNS answers cached in another thread, which cannot ask).
 */
export class ChangeCounter {
  private changes = 0;
  private readonly watchers: (() => void)[] = [];

  get count(): number {
    return this.changes;
  }

  bump(): void {
    this.changes++;
    for (const watcher of this.watchers) watcher();
  }

  watch(watcher: () => void): void {
    this.watchers.push(watcher);
  }
}
