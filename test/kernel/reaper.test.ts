import { test } from 'node:test';
import assert from 'node:assert/strict';
import { departingLinks, noteDepartures } from '../../src/kernel/reaper.js';

test('host links going with a deleted namespace count as departing until they are seen gone', () => {
  noteDepartures([{ kind: 'netns-add', name: 'berth-x' }, { kind: 'netns-del', name: 'berth-a', takes: ['veth1111111', 'veth2222222'] }, { kind: 'netns-del', name: 'berth-b' }]);
  assert.deepEqual([...departingLinks(new Set(['veth1111111', 'veth2222222', 'berth0']))].sort(), ['veth1111111', 'veth2222222']);
  // The kernel deleted one: it is forgotten, and a link of that name made later is not hidden.
  assert.deepEqual([...departingLinks(new Set(['veth2222222', 'berth0']))], ['veth2222222']);
  assert.deepEqual([...departingLinks(new Set(['veth1111111', 'veth2222222']))], ['veth2222222']);
  assert.deepEqual([...departingLinks(new Set())], []);
});
