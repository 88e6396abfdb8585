import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compileNftables, replaceTableScript } from '../../src/firewall/nftables.js';
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
