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

/** The groups a watch joins, each seen alone: a link change, an IPv4 address, an IPv4 route (routes only when asked for). */
test('a routing watch reports link, address and route changes, and routes only when asked', { skip: sandboxSkip }, async () => {
  const module = new URL('../../src/kernel/netlink/rtnl.js', import.meta.url).href;
  const script = `
    import { spawnSync } from 'node:child_process';
    import { setTimeout as sleep } from 'node:timers/promises';
    import { watchRouting } from '${module}';
    const counts = { links: 0, routes: 0 };
    const links = watchRouting(() => counts.links++, { routes: false, busy: false });
    const routes = watchRouting(() => counts.routes++, { routes: true, busy: false });
    // The address first: a route added with it would be seen by both watches.
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
    spawnSync('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'lo', 'noprefixroute']);
    const seen = [];
    for (const step of [['link', 'set', 'lo', 'mtu', '1400'], ['addr', 'add', '192.0.2.2/24', 'dev', 'lo', 'noprefixroute'], ['route', 'add', '198.51.100.0/24', 'dev', 'lo']]) {
      await sleep(100);
      const before = { ...counts };
      const r = spawnSync('ip', step);
      await sleep(100);
      seen.push([r.status, counts.links - before.links, counts.routes - before.routes].join(':'));
    }
    links.close();
    routes.close();
    console.log(seen.join(' '));`;
  const netns = 'berth-watch-groups-test';
  await run('ip', ['netns', 'add', netns]);
  try {
    const r = await run('ip', ['netns', 'exec', netns, process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.stderr);
    const [link, address, route] = r.stdout.trim().split(' ').map((s) => s.split(':').map(Number));
    assert.equal(link![0], 0);
    assert.ok(link![1]! > 0 && link![2]! > 0, `a link change: ${r.stdout}`);
    assert.ok(address![1]! > 0 && address![2]! > 0, `an address change: ${r.stdout}`);
    assert.equal(route![0], 0);
    assert.equal(route![1], 0, `the watch without routes saw a route: ${r.stdout}`);
    assert.ok(route![2]! > 0, `the watch with routes missed a route: ${r.stdout}`);
  } finally {
    await run('ip', ['netns', 'del', netns]);
  }
});
