import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileNftables, networkChangeScript, replaceTableScript } from '../../src/firewall/nftables.js';
import type { FirewallModel, FirewallNetwork } from '../../src/firewall/model.js';
import { parseNftRuleset } from '../../src/firewall/nft-eval.js';
import { run, sandboxSkip } from '../world/world.js';

const GOLDEN = fileURLToPath(new URL('../../../test/golden/', import.meta.url));
const NS = `nftcheck-${process.pid}`;

before(async () => {
  if (!sandboxSkip) assert.equal((await run('ip', ['netns', 'add', NS])).code, 0);
});
after(async () => {
  if (!sandboxSkip) await run('ip', ['netns', 'del', NS]);
});

test('every golden ruleset is accepted by the real nft and lists back as written', { skip: sandboxSkip }, async () => {
  const files = (await readdir(GOLDEN)).filter((f) => f.endsWith('.nft'));
  assert.ok(files.length >= 2);
  for (const file of files) {
    const load = await run('ip', ['netns', 'exec', NS, 'nft', '-f', `${GOLDEN}${file}`]);
    assert.equal(load.code, 0, `${file}: ${load.stderr}`);
    const listed = await run('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'ip', 'berth']);
    const rules = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    assert.deepEqual(rules(listed.stdout), rules(await readFile(`${GOLDEN}${file}`, 'utf8')), file);
    await run('ip', ['netns', 'exec', NS, 'nft', 'delete', 'table', 'ip', 'berth']);
  }
});

test('replacing the table is one transaction: a bad ruleset leaves the old one in place', { skip: sandboxSkip }, async () => {
  const good = compileNftables({ networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false }], ports: [] });
  assert.equal((await run('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: replaceTableScript(good) })).code, 0);
  const bad = replaceTableScript(good.replace('masquerade', 'masquerade to nowhere'));
  const r = await run('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: bad });
  assert.notEqual(r.code, 0);
  const listed = await run('ip', ['netns', 'exec', NS, 'nft', 'list', 'table', 'ip', 'berth']);
  assert.match(listed.stdout, /ip saddr 172\.17\.0\.0\/16 oifname != "berth0" masquerade/);
});

/** berth's table as the kernel lists it, with what may differ between equal tables (handles, element order) taken out. */
async function listedTable(): Promise<unknown> {
  const listed = await run('ip', ['netns', 'exec', NS, 'nft', '-a', 'list', 'table', 'ip', 'berth']);
  assert.equal(listed.code, 0, listed.stderr);
  const [table] = parseNftRuleset(listed.stdout).tables;
  return {
    chains: [...table!.chains.values()].map((c) => [c.name, c.base, c.policy, c.rules.map((r) => r.text)]).sort(),
    sets: [...table!.sets].map(([name, items]) => [name, [...items].sort()]).sort(),
    maps: [...table!.maps].map(([name, items]) => [name, items.map((kv) => kv.join(' : ')).sort()]).sort(),
  };
}

test('adding and removing a network in place leaves the table the whole ruleset would write', { skip: sandboxSkip }, async () => {
  const web: FirewallNetwork = { bridge: 'br-web', subnet: '10.20.0.0/24', internal: false, hostAccess: false };
  const vault: FirewallNetwork = { bridge: 'br-vault', subnet: '10.30.0.0/24', internal: true, hostAccess: true };
  const base: FirewallModel = {
    networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false }],
    ports: [{ protocol: 'tcp', hostIp: '', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 }],
  };
  const apply = async (script: string) => {
    const r = await run('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: script });
    assert.equal(r.code, 0, `${script}\n${r.stderr}`);
  };
  const whole = async (model: FirewallModel) => {
    await apply(replaceTableScript(compileNftables(model)));
    return listedTable();
  };
  const expectedBoth = await whole({ ...base, networks: [...base.networks, web, vault] });
  const expectedVault = await whole({ ...base, networks: [...base.networks, vault] });
  const expectedBase = await whole(base);
  // From the base: both added in place, then one removed, then the other.
  await apply(networkChangeScript([web, vault], []));
  assert.deepEqual(await listedTable(), expectedBoth, 'adding two networks in place');
  await apply(networkChangeScript([], [web]));
  assert.deepEqual(await listedTable(), expectedVault, 'removing one in place');
  await apply(networkChangeScript([], [vault]));
  assert.deepEqual(await listedTable(), expectedBase, 'removing the other in place');
  // Someone deleted berth's table: a network still comes and goes (drift repair restores the rest).
  await run('ip', ['netns', 'exec', NS, 'nft', 'delete', 'table', 'ip', 'berth']);
  await apply(networkChangeScript([web], []));
  const [table] = parseNftRuleset((await run('ip', ['netns', 'exec', NS, 'nft', '-a', 'list', 'table', 'ip', 'berth'])).stdout).tables;
  assert.deepEqual(table!.chains.get('forward')?.rules.map((r) => r.text), ['iifname vmap @from_bridge', 'oifname vmap @to_bridge'], 'the base chain hands packets on again');
  assert.deepEqual(table!.maps.get('from_bridge'), [['"br-web"', 'jump from_br-web']], "web's own chain is reached");
  await apply(networkChangeScript([], [web, vault]));
  const [left] = parseNftRuleset((await run('ip', ['netns', 'exec', NS, 'nft', '-a', 'list', 'table', 'ip', 'berth'])).stdout).tables;
  assert.deepEqual([...left!.chains.keys()].sort(), ['forward', 'input', 'postrouting'], 'both networks gone, though only one was there');
  assert.deepEqual([...left!.maps.values()].flat(), [], 'no element left');
  await run('ip', ['netns', 'exec', NS, 'nft', 'delete', 'table', 'ip', 'berth']);
});
