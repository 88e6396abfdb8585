import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, sandboxSkip } from '../world/world.js';

/**
 * The reaper's `ip` process does not keep a daemon alive by itself, but whoever awaits
 * `reapsSettled` must not be left with an event loop that empties first: CI once failed the
 * driver conformance suite that way ("Promise resolution is still pending but the event loop
 * has already resolved"). Run in a process of its own, in a namespace of its own, with
 * nothing else to keep it alive.
 */
test('awaiting the reaper keeps the process alive until the link is gone', { skip: sandboxSkip }, async () => {
  const module = new URL('../../src/kernel/reaper.js', import.meta.url).href;
  const script = `
    import { spawnSync } from 'node:child_process';
    import { reapLink, reapsSettled } from '${module}';
    spawnSync('ip', ['link', 'add', 'reaped0', 'type', 'veth', 'peer', 'name', 'reaped1']);
    reapLink('reaped0', 'when-idle');
    await reapsSettled();
    const left = spawnSync('ip', ['-o', 'link', 'show']).stdout.toString();
    console.log(left.includes('reaped') ? 'left' : 'gone');`;
  const output = await runAlone(script);
  assert.equal(output, 'gone', 'the await returned once the link was deleted');
});

/**
 * Deletions hold the kernel's RTNL lock, so they wait while berth's plans keep coming and
 * go once they pause: a link handed over is still there while plans are applied every few
 * ms, and gone a moment after they stop.
 */
test('the reaper deletes once berth pauses, not while its plans keep coming', { skip: sandboxSkip }, async () => {
  const reaper = new URL('../../src/kernel/reaper.js', import.meta.url).href;
  const script = `
    import { spawnSync } from 'node:child_process';
    import { postponeReaps, reapLink } from '${reaper}';
    const present = () => spawnSync('ip', ['-o', 'link', 'show']).stdout.toString().includes('reaped0');
    spawnSync('ip', ['link', 'add', 'reaped0', 'type', 'veth', 'peer', 'name', 'reaped1']);
    reapLink('reaped0', 'when-idle');
    // Plans every 20 ms for 300 ms (each postpones), as a burst of requests would.
    for (let i = 0; i < 15; i++) { await new Promise((r) => setTimeout(r, 20)); postponeReaps(); }
    const whileBusy = present();
    await new Promise((r) => setTimeout(r, 600));
    console.log(whileBusy ? 'kept' : 'deleted', present() ? 'kept' : 'deleted');`;
  const output = await runAlone(script);
  assert.equal(output, 'kept deleted', 'kept while plans came, deleted once they paused');
});

/**
 * The links of one flush go as one group deletion; each flush is confirmed. Links handed
 * over in two bursts are all gone when the await returns, with a link a killed daemon left
 * in the group; a link the reaper was not given, in another group, is left.
 */
test('links handed over in bursts go in group deletions; a link not handed over stays', { skip: sandboxSkip }, async () => {
  const reaper = new URL('../../src/kernel/reaper.js', import.meta.url).href;
  const script = `
    import { spawnSync } from 'node:child_process';
    import { reapLink, reapsSettled, pendingReaps, REAPED_GROUP } from '${reaper}';
    const add = (n) => spawnSync('ip', ['link', 'add', 'reaped' + n, 'type', 'veth', 'peer', 'name', 'peer' + n]);
    for (let i = 0; i < 12; i++) add(i);
    spawnSync('ip', ['link', 'add', 'kept0', 'type', 'veth', 'peer', 'name', 'kept1']);
    // Left in the group by a daemon killed between grouping a batch and deleting it: it goes with the next batch.
    spawnSync('ip', ['link', 'add', 'left0', 'group', String(REAPED_GROUP), 'type', 'veth', 'peer', 'name', 'left1']);
    for (let i = 0; i < 6; i++) reapLink('reaped' + i, 'now');
    for (let i = 6; i < 12; i++) reapLink('reaped' + i, 'now');
    const pendingBefore = pendingReaps().size;
    await reapsSettled();
    const links = JSON.parse(spawnSync('ip', ['-j', 'link', 'show']).stdout.toString());
    const names = links.map((l) => l.ifname).filter((n) => n !== 'lo').sort();
    console.log(JSON.stringify({ pendingBefore, pendingAfter: pendingReaps().size, names, keptGroup: links.find((l) => l.ifname === 'kept0').group, reapedGroup: REAPED_GROUP }));`;
  const output = JSON.parse(await runAlone(script)) as { pendingBefore: number; pendingAfter: number; names: string[]; keptGroup: string; reapedGroup: number };
  assert.equal(output.pendingBefore, 12);
  assert.equal(output.pendingAfter, 0);
  assert.deepEqual(output.names, ['kept0', 'kept1'], 'every link handed over is gone with its peer; the others stay');
  assert.equal(output.keptGroup, 'default');
  assert.ok(output.reapedGroup > 255, 'a group number no one picks by chance');
});

/** Runs a module script in a Node process of its own, in a network namespace of its own; what it printed. */
async function runAlone(script: string): Promise<string> {
  const netns = 'berth-reaper-test';
  await run('ip', ['netns', 'add', netns]);
  try {
    const r = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, `the process ended with ${r.code}: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    await run('ip', ['netns', 'del', netns]);
  }
}
