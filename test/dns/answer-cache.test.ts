import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AnswerCache, answerKey } from '../../src/dns/answer-cache.js';

const bytes = (...b: number[]) => Uint8Array.from(b);

test('the key is the query after its id: two ids of one question share an answer, another flag does not', () => {
  const q1 = bytes(0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0x64, 0x62, 0);
  const q2 = bytes(0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0x64, 0x62, 0);
  const noRd = bytes(0xab, 0xcd, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0x64, 0x62, 0);
  assert.equal(answerKey(q1), answerKey(q2));
  assert.notEqual(answerKey(q1), answerKey(noRd));
  // A view into a larger buffer keys by its own bytes only.
  const big = new Uint8Array(64);
  big.set(q1, 10);
  assert.equal(answerKey(big.subarray(10, 10 + q1.length)), answerKey(q1));
});

test('answers are kept per listener and dropped when the names move on', () => {
  const cache = new AnswerCache(5);
  cache.store(1, 'db', bytes(1), 5);
  cache.store(1, 'silent', null, 5);
  assert.deepEqual(cache.lookup(1, 'db'), bytes(1));
  assert.equal(cache.lookup(1, 'silent'), null);
  assert.equal(cache.lookup(2, 'db'), undefined, 'another listener has its own answers');
  cache.sync(5);
  assert.deepEqual(cache.lookup(1, 'db'), bytes(1), 'the same generation keeps them');
  cache.sync(6);
  assert.equal(cache.lookup(1, 'db'), undefined);
});

test('an answer computed under an older generation is not stored', () => {
  const cache = new AnswerCache(1);
  cache.sync(2);
  cache.store(1, 'db', bytes(1), 1);
  assert.equal(cache.lookup(1, 'db'), undefined);
  cache.store(1, 'db', bytes(2), 2);
  assert.deepEqual(cache.lookup(1, 'db'), bytes(2));
});

test('a listener asking endless distinct names starts over instead of growing; forget drops one listener', () => {
  const cache = new AnswerCache(0);
  for (let i = 0; i < 600; i++) cache.store(1, `n${i}`, bytes(i & 255), 0);
  assert.equal(cache.lookup(1, 'n0'), undefined, 'the first names were dropped');
  assert.deepEqual(cache.lookup(1, 'n599'), bytes(599 & 255));
  cache.store(2, 'db', bytes(9), 0);
  cache.forget(1);
  assert.equal(cache.lookup(1, 'n599'), undefined);
  assert.deepEqual(cache.lookup(2, 'db'), bytes(9));
});
