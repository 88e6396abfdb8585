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
    reapLink('reaped0');
    await reapsSettled();
    const left = spawnSync('ip', ['-o', 'link', 'show']).stdout.toString();
    console.log(left.includes('reaped') ? 'left' : 'gone');`;
  const netns = 'berth-reaper-test';
  await run('ip', ['netns', 'add', netns]);
  try {
    const r = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, `the process ended with ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), 'gone', 'the await returned once the link was deleted');
  } finally {
    await run('ip', ['netns', 'del', netns]);
  }
});
