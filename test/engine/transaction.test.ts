import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inTransaction } from '../../src/engine/transaction.js';
import type { Executor } from '../../src/kernel/exec.js';
import type { Plan } from '../../src/kernel/ops.js';
import { renderPlan } from '../../src/kernel/render.js';

/** Records plans instead of applying them: this tests the transaction's ordering logic only. */
class RecordingExecutor implements Executor {
  readonly applied: string[] = [];
  apply(plan: Plan): Promise<void> {
    this.applied.push(renderPlan(plan));
    return Promise.resolve();
  }
}

test('a failing step undoes earlier steps in reverse order and rethrows the original error', async () => {
  const exec = new RecordingExecutor();
  const events: string[] = [];
  await assert.rejects(
    inTransaction(exec, async (tx) => {
      tx.onRollback(() => void events.push('release address'));
      await tx.apply([{ kind: 'netns-add', name: 'n1' }]);
      tx.onRollback(() => void events.push('remove files'));
      throw new Error('persist failed');
    }),
    /^Error: persist failed$/,
  );
  assert.deepEqual(exec.applied, ['ip netns add n1', 'ip netns del n1']);
  assert.deepEqual(events, ['remove files', 'release address']);
});

test('an undo that fails is reported, not swallowed', async () => {
  const exec = new RecordingExecutor();
  await assert.rejects(
    inTransaction(exec, (tx) => {
      tx.onRollback(() => {
        throw new Error('cannot delete veth');
      });
      return Promise.reject(new Error('attach failed'));
    }),
    /attach failed; undoing it also failed: cannot delete veth/,
  );
});
