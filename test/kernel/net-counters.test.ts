import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNetDev } from '../../src/kernel/net-counters.js';

test('/proc/net/dev: per-interface counters, lo left out', () => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
    '  eth0:    1234      12    1    2    0     0          0         0     4321      21    3    4    0     0       0          0',
  ].join('\n');
  assert.deepEqual([...parseNetDev(text)], [['eth0', { rxBytes: 1234, rxPackets: 12, rxErrors: 1, rxDropped: 2, txBytes: 4321, txPackets: 21, txErrors: 3, txDropped: 4 }]]);
});
