import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { NetlinkExecutor } from '../../src/kernel/netlink/executor.js';
import { closeReady, netnsPool, NetnsPool } from '../../src/kernel/netlink/netns-pool.js';
import { deleteNetns, pinNetns, type ReadyNetns } from '../../src/kernel/netlink/namespaces.js';
import { Rtnl } from '../../src/kernel/netlink/rtnl.js';
import { must, sandboxSkip } from '../world/world.js';

/**
 * Namespaces made ahead by the pool's thread (kernel/netlink/netns-pool.ts): what `netns-add`
 * gives from it must be what `ip netns add` gives — a namespace of its own, pinned under its
 * name, with nothing in it but lo (up when the pool made it: the sandbox plan's next step) —
 * and the ones waiting must not show under /run/netns. The rtnetlink socket that comes with
 * each must act inside it.
 */
const pinned = () => (existsSync('/run/netns') ? readdirSync('/run/netns') : []);
/** This process's descriptors whose target starts with `kind` ("net:" a namespace, "socket:" a socket). */
const fdsOf = (kind: string) => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith(kind);
  } catch {
    return false;
  }
});
const netnsFds = () => fdsOf('net:');

const SCHED_BATCH = 3;

/** The scheduling policy of each of this process's threads (/proc/self/task/TID/stat, field 41). */
function threadPolicies(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
  });
}

describe('the namespace pool', { skip: sandboxSkip }, () => {
  const names = Array.from({ length: 12 }, (_, i) => `berth-pool-test${i}`);
  after(() => {
    for (const name of names) if (existsSync(`/run/netns/${name}`)) deleteNetns(name);
  });

  test('netns-add then lo up, more times in a row than the pool holds: each is a namespace of its own, pinned, with lo only and up; waiting ones are not pinned', async () => {
    const before = pinned();
    const executor = new NetlinkExecutor();
    for (const name of names) await executor.apply([{ kind: 'netns-add', name }, { kind: 'link-up', netns: name, dev: 'lo' }]);
    assert.deepEqual(pinned().filter((n) => !before.includes(n)).sort(), [...names].sort());
    // A namespace's identity is its nsfs inode: twelve different ones.
    assert.equal(new Set(names.map((n) => statSync(`/run/netns/${n}`).ino)).size, names.length);
    for (const name of names) {
      const links = JSON.parse(await must('ip', ['-n', name, '-j', 'link', 'show'])) as { ifname: string; flags: string[] }[];
      assert.deepEqual(links.map((l) => l.ifname), ['lo'], name);
      assert.ok(links[0]!.flags.includes('UP'), `${name}'s lo is up`);
    }
  });

  test('a plan that fails after netns-add from the pool is undone whole: no namespace, and its socket closed', async () => {
    const executor = new NetlinkExecutor();
    // The first test's plans left the pool with namespaces ready, each held by a descriptor
    // and with a socket of its own: one taken and closed whole leaves their difference as it
    // was, refills or not; a socket left open would add one.
    const unpaired = () => fdsOf('socket:').length - netnsFds().length;
    for (let i = 0; i < 100 && netnsFds().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const readyBefore = netnsFds().length;
    assert.ok(readyBefore > 0, 'the pool has a namespace ready');
    const before = unpaired();
    const plan = [
      { kind: 'netns-add', name: 'berth-pool-test-undone' },
      { kind: 'link-up', netns: 'berth-pool-test-undone', dev: 'lo' },
      { kind: 'addr-add', netns: 'berth-pool-test-undone', dev: 'nosuch0', cidr: '192.0.2.9/24' },
    ] as const;
    await assert.rejects(executor.apply(plan), /nosuch0/);
    assert.ok(!pinned().includes('berth-pool-test-undone'), 'the namespace is gone');
    assert.equal(unpaired(), before, "the namespace's socket is closed with it");
  });

  test('a pool of its own: take gives a made namespace, with lo only and up, and a socket inside it, once its thread has one; close frees what waits', async () => {
    // The executors' pool (the first test's) first, so that only this pool's descriptors change.
    await netnsPool.close();
    const held = netnsFds().length;
    const socketsHeld = fdsOf('socket:').length;
    const pool = new NetnsPool(2);
    assert.equal(pool.take(), undefined, 'nothing is ready before the thread has made one');
    let made: ReadyNetns | undefined;
    for (let i = 0; i < 100 && made === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      made = pool.take();
    }
    assert.ok(made !== undefined, 'the thread made one');
    // Its thread runs SCHED_BATCH (woken by a take, it does not preempt the daemon's thread); the others are left as they were.
    assert.deepEqual(threadPolicies().filter((p) => p === SCHED_BATCH), [SCHED_BATCH]);
    const inside = new Rtnl(made.rtnetlinkFd);
    try {
      pinNetns('berth-pool-test-own', made.netnsFd);
      const links = JSON.parse(await must('ip', ['-n', 'berth-pool-test-own', '-j', 'addr', 'show'])) as { ifname: string; flags: string[]; addr_info: { local: string }[] }[];
      assert.deepEqual(links.map((l) => l.ifname), ['lo']);
      assert.ok(links[0]!.flags.includes('UP'), 'lo is up, as the sandbox plan would bring it');
      assert.ok(links[0]!.addr_info.some((a) => a.local === '127.0.0.1'), 'with its address');
      // What the socket makes is made in that namespace, not in this thread's.
      inside.addBridge('pooltestbr0');
      const after = JSON.parse(await must('ip', ['-n', 'berth-pool-test-own', '-j', 'link', 'show'])) as { ifname: string }[];
      assert.deepEqual(after.map((l) => l.ifname).sort(), ['lo', 'pooltestbr0']);
      const here = new Rtnl();
      try {
        assert.equal(here.findLinkIndex('pooltestbr0'), undefined, "not in this thread's namespace");
      } finally {
        here.close();
      }
    } finally {
      inside.close();
      closeSync(made.netnsFd);
      if (existsSync('/run/netns/berth-pool-test-own')) deleteNetns('berth-pool-test-own');
    }
    // Idle for longer than IDLE_MS (2 s): the thread ends, and the namespaces that waited are freed.
    await new Promise((r) => setTimeout(r, 2600));
    assert.equal(netnsFds().length, held, 'an idle pool holds no namespace');
    // The next take starts a thread again.
    let again: ReadyNetns | undefined = pool.take();
    for (let i = 0; i < 100 && again === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = pool.take();
    }
    assert.ok(again !== undefined, 'a new thread made one');
    closeReady(again);
    await pool.close();
    assert.equal(pool.take(), undefined, 'a closed pool gives none');
    assert.equal(netnsFds().length, held, 'the descriptors of the namespaces that waited are closed');
    assert.equal(fdsOf('socket:').length, socketsHeld, 'and their sockets');
  });

  test('the pool is refilled half a pool at a time (each request wakes its thread), and at once when it is empty', async () => {
    await netnsPool.close();
    const held = netnsFds().length;
    const pool = new NetnsPool(4);
    const taken: ReadyNetns[] = [];
    const heldSoon = async (count: number) => {
      for (let i = 0; i < 100 && netnsFds().length - held !== count; i++) await new Promise((r) => setTimeout(r, 20));
      return netnsFds().length - held;
    };
    try {
      assert.equal(pool.take(), undefined, 'the first take asks for a full pool');
      assert.equal(await heldSoon(4), 4, 'four made');
      taken.push(pool.take()!);
      // One taken of four: none asked for yet; a wait long enough for the thread to make one shows none made.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(netnsFds().length - held, 4, 'three ready and the one taken: no namespace asked for after one take');
      taken.push(pool.take()!);
      // Half the pool taken: the two missing are asked for in one request.
      assert.equal(await heldSoon(6), 6, 'four ready again, and the two taken');
    } finally {
      for (const made of taken) closeReady(made);
      await pool.close();
    }
  });

  test('take finds what the thread made while this thread never turned its event loop (attaches back to back, answered synchronously)', async () => {
    const pool = new NetnsPool(2);
    try {
      assert.equal(pool.take(), undefined, 'the first take starts the thread');
      // This thread blocks (no event loop turn, as in a run of synchronous steps) while the other makes the namespaces.
      let made: ReadyNetns | undefined;
      for (let i = 0; i < 50 && made === undefined; i++) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        made = pool.take();
      }
      assert.ok(made !== undefined, 'a namespace the thread made is taken without an event loop turn');
      closeReady(made);
    } finally {
      await pool.close();
    }
  });
});
