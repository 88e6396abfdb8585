/**
 * The network chain changes of test/kernel/nft-chains.integration.test.ts, applied in the
 * network namespace this program runs in (the test gives it a fresh one: the table's name is
 * the daemon's). Prints, as JSON, the table after each step as `nft --debug=netlink` lists
 * it: the rules' text and, under each, the expressions the kernel holds.
 */
import { spawnSync } from 'node:child_process';
import { compileNftables, nftablesBackend, replaceTableScript } from '../../src/firewall/nftables.js';
import type { FirewallNetwork } from '../../src/firewall/model.js';
import { runNft } from '../../src/kernel/libnftables.js';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import { applyChainChange } from '../../src/kernel/netlink/nft-chains.js';
import type { NftChainChange } from '../../src/kernel/nft-commands.js';
import type { NftApply } from '../../src/kernel/ops.js';

const network = (n: number, options: Partial<FirewallNetwork> = {}): FirewallNetwork => ({ bridge: `br-probe${n}`, subnet: `10.${n}.0.0/${n % 2 === 0 ? 16 : 23}`, internal: false, hostAccess: true, ...options });
const first = network(1);
const added = [network(2, { hostAccess: false }), network(3, { internal: true }), network(4, { subnet: '10.4.5.0/24' })];
const listing = (): string => spawnSync('nft', ['--debug=netlink', 'list', 'table', 'ip', 'berth'], { encoding: 'utf8' }).stdout;
const reset = (): void => void runNft(replaceTableScript(compileNftables({ networks: [first], ports: [] })));
const change = (description: string, add: FirewallNetwork[], remove: FirewallNetwork[]): NftApply & { chains: NftChainChange } => {
  const op = nftablesBackend.changeNetworks(description, { before: { networks: [], ports: [] }, after: { networks: [], ports: [] }, added: add, removed: remove });
  if (op.kind !== 'nft-apply' || !op.chains) throw new Error('the nftables backend gave a network change without its chain commands');
  return { ...op, chains: op.chains };
};
const scriptOnly = (op: NftApply): NftApply => ({ kind: op.kind, description: op.description, script: op.script });
const executor = new NetlinkExecutor();
const out: Record<string, string> = {};

reset();
out.initial = listing();
// Sent directly (no fallback to the script: a refusal throws).
applyChainChange(change('add', added, []).chains);
out.directAdded = listing();
applyChainChange(change('remove', [], [added[0]!, added[2]!]).chains);
out.directRemoved = listing();
// Removing a network that is not there is no error (the commands add it before deleting it, as the script does).
applyChainChange(change('remove absent', [], [network(9)]).chains);
out.directRemovedAbsent = listing();

reset();
await executor.apply([scriptOnly(change('add', added, []))]);
out.scriptAdded = listing();
await executor.apply([scriptOnly(change('remove', [], [added[0]!, added[2]!]))]);
out.scriptRemoved = listing();

// The table gone (someone deleted it): the executor runs the script, declaring the table, its maps and base chains again.
runNft('delete table ip berth\n');
await executor.apply([change('add after delete', [network(5)], [])]);
out.afterDelete = listing();

// A refused command refuses the whole transaction: the chain added before it is not there either.
reset();
try {
  applyChainChange({
    family: 'ip',
    table: 'berth',
    commands: [
      { kind: 'add-chain', chain: 'refused_probe' },
      // Still the target of the from_bridge element of br-probe1: the kernel refuses to delete it.
      { kind: 'delete-chain', chain: 'from_br-probe1' },
    ],
  });
  out.refused = 'no error';
} catch (err) {
  out.refused = err instanceof Error ? err.message : String(err);
}
out.afterRefused = listing();
console.log(JSON.stringify(out));
