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
