import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnsweringThread } from '../../src/dns/answer-thread.js';
import { createWakeDescriptor } from '../../src/kernel/udp-batch.js';

test('a failing answering thread is reported once, with its reason, and the next listener starts a new one', async () => {
  const failures: string[] = [];
  let failed: () => void = () => undefined;
  const thread = new AnsweringThread(() => undefined, (reason) => {
    failures.push(reason);
    failed();
  });
  const self = new Uint8Array(16);
  // A descriptor that is not open: epoll refuses it, and the thread ends with that error.
  let seen = new Promise<void>((resolve) => (failed = resolve));
  thread.attach(1, 1_000_000, self);
  await seen;
  assert.equal(failures.length, 1);
  assert.match(failures[0]!, /epoll_ctl ADD fd 1000000: errno 9/);
  seen = new Promise<void>((resolve) => (failed = resolve));
  thread.attach(2, 1_000_001, self);
  await seen;
  assert.equal(failures.length, 2, 'a second thread was started, and failed the same way');
  await thread.close();
});

test('close stops a running thread and waits for it; nothing is reported as a failure', async () => {
  const thread = new AnsweringThread(() => undefined, (reason) => assert.fail(`failed: ${reason}`));
  thread.namesChanged();
  assert.equal(thread.currentGeneration(), 1);
  // Any descriptor epoll accepts will do for a listener that never becomes readable: an eventfd.
  thread.attach(1, createWakeDescriptor(), new Uint8Array(16));
  await thread.close();
  await thread.close(); // a second close has nothing to stop
});
