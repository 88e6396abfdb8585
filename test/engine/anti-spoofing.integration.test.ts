import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, must, REPO, run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Anti-spoofing (part 9): a container cannot send with a source address or MAC other than
 * its own. A raw-socket sender inside one container forges frames to another container on
 * the same bridge; the receiver logs the source of every datagram it gets. With each
 * --firewall backend (the guard is the same bridge-family nftables table for both).
 */
const SPOOF = join(REPO, 'test/world/spoof.py');
const RECEIVER = "require('dgram').createSocket('udp4').on('message',(m,r)=>console.log(r.address+' '+m)).bind(9999)";

const field = async (w: World, container: string, f: string) => (await w.berthOk('inspect', '-f', `{{.NetworkSettings.Networks.guarded.${f}}}`, container)).trim();

for (const firewall of ['nftables', 'iptables'] as const) {
  describe(`anti-spoofing (--firewall ${firewall})`, { skip: sandboxSkip }, () => {
    let w: World;
    before(async () => {
      w = await World.create({ daemonArgs: ['--firewall', firewall] });
      await w.berthOk('network', 'create', '--subnet', '10.61.0.0/24', 'guarded');
      await w.berthOk('run', '-d', '--name', 'receiver', '--network', 'guarded', '--', process.execPath, '-e', RECEIVER);
      await w.berthOk('run', '-d', '--name', 'sender', '--network', 'guarded', '--', 'sleep', '600');
      await w.berthOk('run', '-d', '--name', 'victim', '--network', 'guarded', '--', 'sleep', '600');
    });
    after(() => checkLeaksThenDispose(w));

    test('its own MAC and address pass; a forged address (another container\'s or an unused one) or a forged MAC is dropped on the bridge', async () => {
      const [senderMac, senderIp, receiverMac, receiverIp, victimIp] = [await field(w, 'sender', 'MacAddress'), await field(w, 'sender', 'IPAddress'), await field(w, 'receiver', 'MacAddress'), await field(w, 'receiver', 'IPAddress'), await field(w, 'victim', 'IPAddress')];
      const send = (mac: string, ip: string, payload: string) => w.berthOk('exec', 'sender', '/usr/bin/python3', SPOOF, 'eth0', mac, receiverMac, ip, receiverIp, '9999', payload);
      await send('02:42:0a:3d:00:63', senderIp, 'forged-mac');
      await send(senderMac, victimIp, 'forged-victim-address');
      await send(senderMac, '10.61.0.99', 'forged-unused-address');
      await send(senderMac, senderIp, 'genuine');
      const logged = async () => (await must('cat', [join(w.dir, 'data', 'containers', (await w.berthOk('inspect', '-f', '{{.Id}}', 'receiver')).trim(), 'stdout.log')]));
      assert.ok(await eventually(async () => (await logged()).includes('genuine'), 3000), 'the genuine datagram arrived');
      assert.equal((await logged()).trim(), `${senderIp} genuine`, 'only the genuine one arrived');
    });

    test('the guard is one element per endpoint, gone with the container; drift repair puts the table back', async () => {
      const list = async () => (await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'table', 'bridge', 'berth'])).stdout;
      const victimVeth = await field(w, 'victim', 'BerthHostInterface');
      assert.match(await list(), new RegExp(`"${victimVeth}" \\. `));
      await w.berthOk('rm', '-f', 'victim');
      assert.doesNotMatch(await list(), new RegExp(victimVeth));
      await must('ip', ['netns', 'exec', w.host, 'nft', 'delete', 'table', 'bridge', 'berth']);
      assert.match(await w.berthOk('system', 'reconcile'), /the anti-spoofing rules \(repaired\)/);
      assert.match(await list(), new RegExp(`"${await field(w, 'sender', 'BerthHostInterface')}" \\. `));
    });
  });
}
