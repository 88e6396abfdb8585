/**
 * The element changes of test/kernel/nft-elements.integration.test.ts, applied in the
 * network namespace this program runs in (the test gives it a fresh one: the guard table's
 * name is the daemon's). Prints what `nft list table bridge berth` shows after each step,
 * as JSON, for the test to compare.
 */
import { spawnSync } from 'node:child_process';
import { changeGuards, replaceGuards, type GuardedEndpoint } from '../../src/firewall/guard.js';
import { runNft } from '../../src/kernel/libnftables.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import { applyElements } from '../../src/kernel/netlink/nft-elements.js';
import type { NftApply } from '../../src/kernel/ops.js';

const endpoint = (n: number): GuardedEndpoint => ({ hostIfname: `veth${n}abcdef`, mac: `02:42:ac:11:00:${n.toString(16).padStart(2, '0')}`, address: `172.17.0.${n}` });
const listing = (): string => spawnSync('nft', ['list', 'table', 'bridge', 'berth'], { encoding: 'utf8' }).stdout;
const reset = (): void => void runNft(replaceGuards('reset', [endpoint(1)]).script);
const executor = new NetlinkExecutor();
const scriptOnly = (op: NftApply): NftApply => ({ kind: op.kind, description: op.description, script: op.script });

const add = changeGuards('add', { added: [endpoint(2), endpoint(3)] });
const remove = changeGuards('remove', { removed: [endpoint(2)] });
const out: Record<string, string> = {};

reset();
out.initial = listing();
await executor.apply([add]);
out.directAdded = listing();
await executor.apply([remove]);
out.directRemoved = listing();
// Removing what is not there is no error (the script adds it before deleting it too).
await executor.apply([changeGuards('remove absent', { removed: [endpoint(9)] })]);
out.directRemovedAbsent = listing();

reset();
await executor.apply([scriptOnly(add)]);
out.scriptAdded = listing();
await executor.apply([scriptOnly(remove)]);
out.scriptRemoved = listing();

// The table gone (someone deleted it): the script runs, declaring the sets again.
runNft('delete table bridge berth\n');
await executor.apply([changeGuards('add after delete', { added: [endpoint(4)] })]);
out.afterDelete = listing();

// One refused set change refuses the whole transaction: the valid one is not applied either.
reset();
try {
  applyElements({
    family: 'bridge',
    table: 'berth',
    sets: [
      { set: 'guarded_macs', add: [[{ type: 'ifname', value: 'veth5abcdef' }, { type: 'ether_addr', value: '02:42:ac:11:00:05' }]], remove: [] },
      // An address where the set holds interface names: the key's length is wrong.
      { set: 'guarded_ports', add: [[{ type: 'ipv4_addr', value: '172.17.0.5' }]], remove: [] },
    ],
  });
  out.refused = 'no error';
} catch (err) {
  out.refused = err instanceof Error ? err.message : String(err);
}
out.afterRefused = listing();
console.log(JSON.stringify(out));
