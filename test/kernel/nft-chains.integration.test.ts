import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { run, sandboxSkip } from '../world/world.js';

/**
 * A network's chains, rules and verdict-map elements go through nf_tables messages of
 * berth's own (src/kernel/netlink/nft-chains.ts), not libnftables: the kernel must end up
 * holding exactly what the script (`nft -f`) gives, expression by expression (`nft
 * --debug=netlink list` prints each rule's), removals included; a missing table falls back
 * to the script; a refused change applies nothing. Run in a namespace of its own
 * (nft-chains-probe.ts), since the table's name is every daemon's.
 */
test('network chains sent directly leave the ruleset as the nft script does, expression for expression', { skip: sandboxSkip }, async () => {
  const probe = fileURLToPath(new URL('./nft-chains-probe.js', import.meta.url));
  const r = await run('unshare', ['--net', process.execPath, probe]);
  assert.equal(r.code, 0, r.stderr);
  const out = Object.fromEntries(Object.entries(JSON.parse(r.stdout) as Record<string, string>).map(([step, listed]) => [step, comparable(listed)]));

  // Every rule form berth writes is there, with its expressions.
  for (const text of [
    'iifname "br-probe2" oifname != "br-probe2" oifname @bridges drop',
    'oifname "br-probe2" ct state established,related meta mark set meta mark | 0x10000000 accept',
    'iifname "br-probe2" icmp type echo-request accept',
    'ip saddr 10.2.0.0/16 oifname != "br-probe2" masquerade',
    'oifname "br-probe4" ip saddr 10.4.5.0/24 ct status dnat masquerade',
    'iifname "br-probe3" oifname "br-probe3" meta mark set meta mark | 0x10000000 accept',
    '"br-probe3" : jump from_br-probe3',
  ]) {
    assert.ok(out.directAdded!.includes(text), `missing after the direct add: ${text}`);
  }
  assert.match(out.directAdded!, /\[ bitwise reg 1 = \( reg 1 & 0x00000006 \) \^ 0x00000000 \]/);
  assert.equal(out.directAdded, out.scriptAdded);
  assert.doesNotMatch(out.directRemoved!, /br-probe2|br-probe4/);
  assert.match(out.directRemoved!, /chain from_br-probe3/);
  assert.equal(out.directRemoved, out.scriptRemoved);
  assert.equal(out.directRemovedAbsent, out.directRemoved);

  assert.match(out.afterDelete!, /chain forward \{\n\s+type filter hook forward priority filter - 1; policy accept;\n\s+iifname vmap @from_bridge/);
  assert.match(out.afterDelete!, /"br-probe5" : jump to_br-probe5/);

  assert.match(out.refused!, /nf_tables refused the chain change: EBUSY/);
  assert.equal(out.afterRefused, out.initial, 'a refused transaction changed the table');
});

/**
 * A listing with each set's elements sorted and without rule handles: the kernel lists a
 * hash set's elements in the order of a hash seeded at random per set, so two tables
 * holding the same elements may list them in different orders; and each table numbers its
 * rules from a counter of every object it ever held, which two ways of reaching the same
 * rules advance differently.
 */
function comparable(listing: string): string {
  const lines = listing.split('\n').map((line) => line.replace(/^(ip berth \S+)( \d+)+$/, '$1'));
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    let j = i;
    while (j < lines.length && lines[j]!.startsWith('\telement ')) j++;
    if (j > i) {
      out.push(...lines.slice(i, j).sort());
      i = j;
      continue;
    }
    // `elements = { a, b, ... }`, over one line or several.
    const line = lines[i]!;
    if (/^\s+elements = \{/.test(line)) {
      let block = line;
      while (!block.includes('}') && i + 1 < lines.length) block += ' ' + lines[++i]!.trim();
      const [, body] = /\{ (.*) \}/.exec(block) ?? [];
      out.push(`elements = { ${(body ?? '').split(', ').sort().join(', ')} }`);
    } else out.push(line);
    i++;
  }
  return out.join('\n');
}
