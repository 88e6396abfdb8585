import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, sandboxSkip } from '../world/world.js';

/**
 * A watch whose socket overflows: 400 veth pairs are made while the watching process is
 * blocked (spawnSync), far more events than a socket's receive buffer holds. Before
 * NETLINK_NO_ENOBUFS, the next read failed with ENOBUFS and the netlink library's native
 * reader aborted the whole process (the daemon, while 1,000 containers were removed).
 */
test('a routing watch survives an overflow of events and still reports a change', { skip: sandboxSkip }, async () => {
  const module = new URL('../../src/kernel/netlink/rtnl.js', import.meta.url).href;
  const script = `
    import { spawnSync } from 'node:child_process';
    import { watchRouting } from '${module}';
    let events = 0;
    const watch = watchRouting(() => events++, { routes: false, busy: true });
    const lines = Array.from({ length: 400 }, (_, i) => 'link add wa' + i + ' type veth peer name wb' + i).join('\\n') + '\\n';
    const made = spawnSync('ip', ['-batch', '-'], { input: lines });
    setTimeout(() => { watch.close(); console.log(made.status, events); }, 300);`;
  const netns = 'berth-overflow-test';
  await run('ip', ['netns', 'add', netns]);
  try {
    const r = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, `the watching process ended with ${r.code}: ${r.stderr}`);
    const [status, events] = r.stdout.trim().split(' ').map(Number);
    assert.equal(status, 0, 'the veth pairs were made');
    assert.ok(events! > 0, 'the watch still reported changes');
  } finally {
    await run('ip', ['netns', 'del', netns]);
  }
});
