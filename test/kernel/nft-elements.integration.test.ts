import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { run, sandboxSkip } from '../world/world.js';

/**
 * The anti-spoofing sets' elements change through nf_tables messages of berth's own
 * (src/kernel/netlink/nft-elements.ts), not libnftables: the kernel must end up holding
 * exactly what the script (`nft -f`) gives, removals included; a missing table falls back
 * to the script; a refused change applies nothing. Run in a namespace of its own
 * (nft-elements-probe.ts), since the guard table's name is every daemon's.
 */
test('set elements sent directly leave the ruleset as the nft script does', { skip: sandboxSkip }, async () => {
  const probe = fileURLToPath(new URL('./nft-elements-probe.js', import.meta.url));
  const r = await run('unshare', ['--net', process.execPath, probe]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string>;

  assert.match(out.directAdded!, /"veth3abcdef" \. 02:42:ac:11:00:03 \. 172\.17\.0\.3/);
  assert.equal(out.directAdded, out.scriptAdded);
  assert.doesNotMatch(out.directRemoved!, /veth2abcdef/);
  assert.match(out.directRemoved!, /veth3abcdef/);
  assert.equal(out.directRemoved, out.scriptRemoved);
  assert.equal(out.directRemovedAbsent, out.directRemoved);

  assert.match(out.afterDelete!, /set guarded_macs \{\n\s+type ifname \. ether_addr\n\s+elements = \{ "veth4abcdef" \. 02:42:ac:11:00:04 \}/);

  assert.match(out.refused!, /nf_tables refused the set elements: EINVAL/);
  assert.equal(out.afterRefused, out.initial, 'a refused transaction changed the sets');
});
