import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { addNetns, deleteNetns, inNetns, openNetns } from '../../src/kernel/netlink/namespaces.js';
import { Rtnl } from '../../src/kernel/netlink/rtnl.js';
import { must, run, sandboxSkip } from '../world/world.js';

/**
 * The synchronous rtnetlink transport (kernel/netlink/route-socket.ts) under Rtnl, against
 * what `ip` reads from the same kernel: a dump larger than one datagram comes whole, a
 * link's index and a route's device name (ioctls on the socket) are its namespace's, a refusal reads as the netlink
 * package words it and leaves the socket usable, and a socket made inside a namespace acts
 * there.
 */
/** `ip -batch -` of `lines`; its exit code. */
function ipBatch(lines: readonly string[], opts: { force?: boolean } = {}): number | null {
  return spawnSync('ip', [...(opts.force ? ['-force'] : []), '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'ignore'] }).status;
}

describe('rtnetlink answered synchronously', { skip: sandboxSkip }, () => {
  const BRIDGES = 300;
  const bridges = Array.from({ length: BRIDGES }, (_, i) => `rsbr${i}`);
  const ns = 'berth-rsock-test';
  const rtnl = new Rtnl();
  after(async () => {
    rtnl.close();
    ipBatch(bridges.map((b) => `link del ${b}`), { force: true });
    await run('ip', ['link', 'del', 'rsveth0']);
    await run('ip', ['netns', 'del', ns]);
  });

  test('a dump of more links than one datagram holds lists every one, as ip does', async () => {
    assert.equal(ipBatch(bridges.map((b) => `link add ${b} type bridge`)), 0);
    const fromIp = (JSON.parse(await must('ip', ['-j', 'link', 'show'])) as { ifname: string }[]).map((l) => l.ifname).sort();
    assert.ok(fromIp.length > BRIDGES);
    assert.deepEqual(rtnl.linkNames().sort(), fromIp);
    const details = rtnl.linkDetails();
    assert.equal(details.filter((l) => l.kind === 'bridge' && l.name.startsWith('rsbr')).length, BRIDGES);
  });

  test('a refused request reads as the kernel refused it, and the socket answers the next one', async () => {
    assert.throws(() => rtnl.addBridge('rsbr0', '02:00:00:00:00:01'), /^Error: Request rejected: EEXIST$/);
    assert.throws(() => rtnl.setUp('rsnone0'), /Cannot find device "rsnone0"/);
    rtnl.setUp('rsbr1');
    assert.match(await must('ip', ['link', 'show', 'rsbr1']), /\bUP\b/);
  });

  test("a link's index is its namespace's, as ip reads it; a name no link has (or too long for one) is no device", async () => {
    const fromIp = (JSON.parse(await must('ip', ['-j', 'link', 'show', 'rsbr3'])) as { ifindex: number }[])[0]!.ifindex;
    assert.equal(rtnl.linkIndex('rsbr3'), fromIp);
    assert.throws(() => rtnl.linkIndex('rsnone0'), /Cannot find device "rsnone0"/);
    assert.throws(() => rtnl.linkIndex('a-name-longer-than-ifnamsiz'), /Cannot find device/);
  });

  test("a route's device is named from its index (an ioctl), as ip names it", async () => {
    await must('ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'rsbr4']);
    await must('ip', ['link', 'set', 'rsbr4', 'up']);
    assert.deepEqual(
      rtnl.ipv4Routes().filter((r) => r.dst === '198.51.100.0/24'),
      [{ dst: '198.51.100.0/24', dev: 'rsbr4', scopeLink: true }],
    );
  });

  test('a veth born in a namespace: a socket made inside finds its peer and acts inside, the host socket does not see it', async () => {
    addNetns(ns);
    const fd = openNetns(ns);
    let peerIndex: number | undefined;
    try {
      rtnl.addVeth({ hostName: 'rsveth0', master: 'rsbr2', peerName: 'eth0', peerMac: '02:42:c0:00:02:05', peerNetnsFd: fd });
      const inside = inNetns(fd, () => new Rtnl());
      try {
        peerIndex = inside.linkIndex('eth0');
        inside.addAddressAt(peerIndex, '192.0.2.5', 24);
        inside.setUp('eth0');
        assert.deepEqual(inside.linkNames().sort(), ['eth0', 'lo']);
      } finally {
        inside.close();
      }
    } finally {
      closeSync(fd);
    }
    const eth0 = (JSON.parse(await must('ip', ['-n', ns, '-j', 'addr', 'show', 'eth0'])) as { ifindex: number; address: string; addr_info: { family: string; local: string }[] }[])[0]!;
    assert.equal(peerIndex, eth0.ifindex);
    assert.equal(eth0.address, '02:42:c0:00:02:05');
    assert.deepEqual(eth0.addr_info.filter((a) => a.family === 'inet').map((a) => a.local), ['192.0.2.5']);
    assert.ok(!rtnl.linkNames().includes('eth0'), "the host's socket does not see the namespace's link");
    deleteNetns(ns);
  });
});
