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

test('undoing an applied plan is best effort: every step is tried, and every failing step is named', async () => {
  const attempted: string[] = [];
  const flaky: Executor = {
    apply(plan: Plan): Promise<void> {
      const text = renderPlan(plan);
      attempted.push(text);
      return /route del|addr del/.test(text) ? Promise.reject(new Error(`failed: ${text}`)) : Promise.resolve();
    },
  };
  await assert.rejects(
    inTransaction(flaky, async (tx) => {
      await tx.apply([
        { kind: 'netns-add', name: 'n1' },
        { kind: 'addr-add', netns: 'n1', dev: 'eth0', cidr: '10.0.0.2/24' },
        { kind: 'route-add', netns: 'n1', dst: 'default', via: '10.0.0.1' },
      ]);
      throw new Error('persist failed');
    }),
    (e: unknown) =>
      e instanceof Error &&
      e.message.startsWith('persist failed; undoing it also failed: ') &&
      e.message.includes('failed: ip -n n1 route del default via 10.0.0.1') &&
      e.message.includes('failed: ip -n n1 addr del 10.0.0.2/24 dev eth0'),
  );
  // The namespace deletion was still tried after two undo steps failed.
  assert.deepEqual(attempted.slice(1), ['ip -n n1 route del default via 10.0.0.1', 'ip -n n1 addr del 10.0.0.2/24 dev eth0', 'ip netns del n1']);
});
