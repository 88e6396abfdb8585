import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomHex } from '../../src/common/random-hex.js';
import { newId } from '../../src/common/ids.js';

test('randomHex gives exactly the digits asked for, odd counts included', () => {
  for (const digits of [1, 7, 10, 64]) assert.match(randomHex(digits), new RegExp(`^[0-9a-f]{${digits}}$`));
});

test('ids cut from the pool do not repeat across its refills', () => {
  // 3,000 ids of 32 bytes are 96 KB: the 4 KB pool is refilled ~24 times on the way.
  const ids = Array.from({ length: 3000 }, () => newId());
  assert.equal(new Set(ids).size, ids.length);
  // Each cut starts where the last one ended: an id's last byte reappears as the next id's
  // first about once in 256 by chance, and at every id if cuts overlapped.
  const overlapping = ids.slice(1).filter((id, k) => id.slice(0, 2) === ids[k]!.slice(-2)).length;
  assert.ok(overlapping < 60, `${overlapping} of ${ids.length - 1} ids begin with the byte the one before ended with`);
});
