import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTraceEvents } from '../../src/kernel/nftrace.js';

// As `nft monitor trace` printed one dropped ping on this kernel (packet lines abridged); the
// chain from_h-a was made after the monitor started, so it knows that rule only by handle.
const OUTPUT = `trace id 65a89b31 inet berth_trace pre packet: iif "ha" ip saddr 10.1.0.2 ip daddr 10.2.0.2
trace id 65a89b31 inet berth_trace pre rule ip daddr 10.2.0.2 meta nftrace set 1 (verdict continue)
trace id 65a89b31 inet berth_trace pre policy accept
trace id 65a89b31 ip berth forward packet: iif "ha" oif "hb" ip saddr 10.1.0.2 ip daddr 10.2.0.2
trace id 65a89b31 ip berth forward rule iifname vmap @from_bridge # handle 4 (verdict jump from_h-a)
trace id 65a89b31 ip berth from_h-a unknown rule handle 6 (verdict drop)
`;

test('trace lines: the trace table left out, rules by handle, and a rule the monitor knows only by its handle', () => {
  assert.deepEqual(parseTraceEvents(OUTPUT), [
    { table: 'ip berth', chain: 'forward', verdict: 'jump', rule: { handle: 4, text: 'iifname vmap @from_bridge' }, packet: 0 },
    { table: 'ip berth', chain: 'from_h-a', verdict: 'drop', rule: { handle: 6 }, packet: 0 },
  ]);
});
