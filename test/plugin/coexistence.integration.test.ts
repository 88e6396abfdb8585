import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTSIDE_IP, run, sandboxSkip, UPLINK_IP, World } from '../world/world.js';
import { Dockerd } from '../world/dockerd.js';

/**
 * berth and dockerd on one host, whichever starts first. dockerd sets the FORWARD policy to
 * DROP when it turns forwarding on itself, and makes bridged frames pass iptables
 * (br_netfilter): berth's traffic must still flow, dockerd's too, and neither engine's
 * containers may open connections into the other's bridge.
 */

async function forwardPolicy(w: World): Promise<string> {
  return (await run('ip', ['netns', 'exec', w.host, 'iptables', '-S', 'FORWARD'])).stdout.split('\n')[0] ?? '';
}

/** berth's containers: a server with a published port, a client on the same bridge. */
async function startBerthContainers(w: World): Promise<string> {
  await w.berthOk('run', '-d', '--name', 'bsrv', '-p', '8081:8081', '--', process.execPath, '-e', "require('net').createServer(s=>s.end('berth\\n')).listen(8081)");
  await w.berthOk('run', '-d', '--name', 'bcli', '--', 'sleep', '600');
  const inspect = (JSON.parse(await w.berthOk('inspect', 'bsrv')) as any[])[0];
  return inspect.NetworkSettings.IPAddress as string;
}

function coexistenceTests(order: 'dockerd first' | 'berth first', firewall: 'nftables' | 'iptables'): void {
  describe(`berth (${firewall}) beside dockerd, ${order}`, { skip: sandboxSkip }, () => {
    const ctx: { w?: World; docker?: Dockerd; berthIp?: string } = {};
    before(async () => {
      const w = await World.create({ withoutDaemon: true });
      ctx.w = w;
      const plugins = `${w.dir}/plugins`;
      const startBerth = async () => {
        const failed = await w.startDaemon(['--docker-plugins', plugins, '--firewall', firewall]);
        if (failed) throw new Error(`daemon did not start: ${failed.stdout}`);
      };
      if (order === 'berth first') await startBerth();
      ctx.docker = await Dockerd.start(w.host, `${w.dir}/dockerd`, plugins);
      if (order === 'dockerd first') await startBerth();
      // dockerd drops what it does not know only when it turned forwarding on itself; a
      // hardened host does the same by hand: after berth started, berth's rules must hold.
      if (order === 'berth first') await run('ip', ['netns', 'exec', w.host, 'iptables', '-P', 'FORWARD', 'DROP']);
      await ctx.docker.dockerOk('run', '-d', '--name', 'dk', 'bb', 'sleep', '600');
      ctx.berthIp = await startBerthContainers(w);
    });
    after(async () => {
      await ctx.docker?.stop();
      await ctx.w?.dispose();
    });
    test('the FORWARD policy is DROP and bridged frames pass iptables', async () => {
      assert.equal(await forwardPolicy(ctx.w!), '-P FORWARD DROP');
      const brnf = await run('ip', ['netns', 'exec', ctx.w!.host, 'cat', '/proc/sys/net/bridge/bridge-nf-call-iptables']);
      assert.equal(brnf.stdout.trim(), '1');
    });

    test('berth containers reach each other on their bridge, and the outside', async () => {
      const w = ctx.w!;
      const local = await w.berth('exec', 'bcli', 'ping', '-c', '1', '-W', '2', ctx.berthIp!);
      assert.equal(local.code, 0, local.stdout + local.stderr);
      const out = await w.berth('exec', 'bcli', 'ping', '-c', '1', '-W', '2', OUTSIDE_IP);
      assert.equal(out.code, 0, out.stdout + out.stderr);
    });

    test('the outside host reaches a port berth published', async () => {
      const r = await ctx.w!.inOutside(process.execPath, '-e', `require('net').connect(8081,'${UPLINK_IP}').on('data',d=>{process.stdout.write(d);process.exit(0)}).on('error',()=>process.exit(1));setTimeout(()=>process.exit(2),3000)`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'berth');
    });

    test('dockerd\'s own containers still reach the outside', async () => {
      const r = await ctx.docker!.docker('exec', 'dk', 'ping', '-c', '1', '-W', '2', OUTSIDE_IP);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    test('a dockerd container cannot open connections into berth\'s bridge', async () => {
      const r = await ctx.docker!.docker('exec', 'dk', 'ping', '-c', '1', '-W', '1', ctx.berthIp!);
      assert.notEqual(r.code, 0, r.stdout);
    });
  });
}

coexistenceTests('dockerd first', 'nftables');
coexistenceTests('berth first', 'nftables');
// The iptables backend writes its chains into the same FORWARD chain as dockerd's.
coexistenceTests('dockerd first', 'iptables');
coexistenceTests('berth first', 'iptables');
