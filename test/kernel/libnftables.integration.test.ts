import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sandboxSkip } from '../world/world.js';

/**
 * libnftables runs inside the daemon, where signals arrive (children exiting, a profiler):
 * a signal cutting a netlink call short fails the transaction with "Interrupted system
 * call", which the nft CLI's own process never met. Nothing of a failed transaction is
 * applied, so berth runs it again. Here a CPU profiler sampling every 50 µs (SIGPROF)
 * interrupts 300 transactions: every one must succeed (without the retry, 5-7 failed).
 */
test('nft transactions in-process survive a storm of signals', { skip: sandboxSkip }, async () => {
  const module = new URL('../../src/kernel/libnftables.js', import.meta.url).href;
  const script = `
    import { runNft } from '${module}';
    let failed = 0;
    for (let i = 0; i < 300; i++) {
      try { runNft('add table ip storm\\ndelete table ip storm\\ntable ip storm {\\n\\tchain c {\\n\\t\\ttype filter hook forward priority 0; policy accept;\\n\\t\\tiifname "x' + i + '" drop\\n\\t}\\n}\\n'); }
      catch { failed++; }
    }
    runNft('delete table ip storm\\n');
    console.log(failed);`;
  const profiles = await mkdtemp(join(tmpdir(), 'berth-storm-'));
  try {
    const r = await run(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profiles}`, '--cpu-prof-interval', '50', '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0', 'transactions failed under signals');
  } finally {
    await rm(profiles, { recursive: true, force: true });
  }
});
