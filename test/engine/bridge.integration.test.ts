import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { LocalStore } from '../../src/store/local.js';
import { eventually, listBerthNetns, must, OUTSIDE_IP, run, sandboxSkip, tcpRequest, UPLINK_IP, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

interface IpAddr {
  ifname: string;
  address: string;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

describe('default bridge network on the real kernel', { skip: sandboxSkip }, () => {
  let w: World;
  before(async () => {
    w = await World.create();
    await w.berthOk('run', '-d', '--name', 'a', '--', process.execPath, '-e',
      "require('net').createServer(s=>s.end('hello from a\\n')).listen(8080)");
    await w.berthOk('run', '-d', '--name', 'b', '--', 'sleep', '1000');
  });
  after(() => checkLeaksThenDispose(w));

  test('the daemon built berth0 172.17.0.1/16, forwarding and berth\'s nftables table', async () => {
    const addrs = JSON.parse((await must('ip', ['-n', w.host, '-j', '-4', 'addr', 'show', 'dev', 'berth0']))) as IpAddr[];
    assert.equal(`${addrs[0]!.addr_info[0]!.local}/${addrs[0]!.addr_info[0]!.prefixlen}`, '172.17.0.1/16');
    assert.equal((await w.inHost('cat', '/proc/sys/net/ipv4/ip_forward')).stdout.trim(), '1');
    const ruleset = (await w.inHost('nft', 'list', 'table', 'ip', 'berth')).stdout;
    assert.match(ruleset, /ip saddr 172\.17\.0\.0\/16 oifname != "berth0" masquerade/);
    // No multicast snooping: a port's attach does not grow with the bridge's ports.
    const [bridge] = JSON.parse(await must('ip', ['-n', w.host, '-d', '-j', 'link', 'show', 'dev', 'berth0'])) as { linkinfo: { info_data: { mcast_snooping: number } } }[];
    assert.equal(bridge!.linkinfo.info_data.mcast_snooping, 0);
  });

  test('container a has lo and eth0 172.17.0.2/16 with MAC 02:42:ac:11:00:02 and a default route', async () => {
    const links = JSON.parse((await w.berthOk('exec', 'a', 'ip', '-j', 'addr'))) as IpAddr[];
    assert.deepEqual(links.map((l) => l.ifname), ['lo', 'eth0']);
    const eth0 = links[1]!;
    assert.equal(eth0.address, '02:42:ac:11:00:02');
    assert.ok(eth0.flags.includes('UP'));
    assert.deepEqual(eth0.addr_info.filter((i) => i.family === 'inet').map((i) => `${i.local}/${i.prefixlen}`), ['172.17.0.2/16']);
    assert.match((await w.berthOk('exec', 'a', 'ip', 'route')), /^default via 172\.17\.0\.1 dev eth0/m);
    // Docker's hostname: the first 12 hex digits of the id.
    const id = (await w.berthOk('inspect', '-f', '{{.Id}}', 'a')).trim();
    assert.equal((await w.berthOk('exec', 'a', 'hostname')).trim(), id.slice(0, 12));
    // Its own address under its hostname, as Docker writes it.
    assert.match(await w.berthOk('exec', 'a', 'cat', '/etc/hosts'), new RegExp(`^172\\.17\\.0\\.2\\t${id.slice(0, 12)}$`, 'm'));
  });

  test('neither end of the veth has an IPv6 address (the network is IPv4-only: no autoconfiguration messages), the host end has IPv6 off; lo keeps ::1', async () => {
    const links = JSON.parse((await w.berthOk('exec', 'a', 'ip', '-j', 'addr'))) as IpAddr[];
    assert.deepEqual(links.find((l) => l.ifname === 'eth0')!.addr_info.filter((i) => i.family === 'inet6'), []);
    assert.deepEqual(links.find((l) => l.ifname === 'lo')!.addr_info.filter((i) => i.family === 'inet6').map((i) => i.local), ['::1']);
    const [eth0] = JSON.parse(await w.berthOk('exec', 'a', 'ip', '-d', '-j', 'link', 'show', 'eth0')) as { inet6_addr_gen_mode: string }[];
    assert.equal(eth0!.inet6_addr_gen_mode, 'none');
    const veth = (await w.berthOk('inspect', '-f', '{{.NetworkSettings.Networks.bridge.BerthHostInterface}}', 'a')).trim();
    const [hostEnd] = JSON.parse(await must('ip', ['-n', w.host, '-j', 'addr', 'show', 'dev', veth])) as IpAddr[];
    assert.deepEqual(hostEnd!.addr_info.filter((i) => i.family === 'inet6'), [], `${veth} on the host`);
    // IPv6 is off on the host end: the host's IPv6 tables hold no route through it (with it
    // on, each host end adds a multicast route, which the kernel walks at every link change).
    assert.equal((await must('ip', ['netns', 'exec', w.host, 'sysctl', '-n', `net.ipv6.conf.${veth}.disable_ipv6`])).trim(), '1');
    assert.equal((await must('ip', ['-n', w.host, '-6', 'route', 'show', 'table', 'all', 'dev', veth])).trim(), '', `IPv6 routes through ${veth}`);
  });

  test('the host side is a veth+7hex enslaved to berth0', async () => {
    const inspect = JSON.parse(await w.berthOk('inspect', 'a')) as [{ NetworkSettings: { Networks: { bridge: { BerthHostInterface: string } } } }];
    const veth = inspect[0].NetworkSettings.Networks.bridge.BerthHostInterface;
    assert.match(veth, /^veth[0-9a-f]{7}$/);
    const link = JSON.parse(await must('ip', ['-n', w.host, '-j', 'link', 'show', 'dev', veth])) as { master: string }[];
    assert.equal(link[0]!.master, 'berth0');
  });

  test('a pings b by IP, and a reaches its gateway', async () => {
    assert.equal((await w.berth('exec', 'a', 'ping', '-c1', '-W2', '172.17.0.3')).code, 0);
    assert.equal((await w.berth('exec', 'a', 'ping', '-c1', '-W2', '172.17.0.1')).code, 0);
    // A negative control, so the checks above can fail: nobody has .99.
    assert.notEqual((await w.berth('exec', 'a', 'ping', '-c1', '-W1', '172.17.0.99')).code, 0);
  });

  test('the host reaches a TCP listener in a by its IP', async () => {
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.host], '172.17.0.2', 8080), 'hello from a');
  });

  test('a reaches the outside host, which sees the host\'s uplink address (MASQUERADE)', async () => {
    await w.serveTcp(w.outside, OUTSIDE_IP, 7000, 's.remoteAddress');
    const seen = (await w.berthOk('exec', 'a', process.execPath, '-e',
      `const s=require('net').connect(7000,'${OUTSIDE_IP}');s.setEncoding('utf8');s.on('data',d=>process.stdout.write(d));s.on('error',e=>{console.log(e.code)})`)).trim();
    assert.equal(seen.replace(/^::ffff:/, ''), UPLINK_IP);
  });

  test('the outside host cannot open connections to container addresses (forward drop)', async () => {
    await must('ip', ['-n', w.outside, 'route', 'add', '172.17.0.0/16', 'via', UPLINK_IP]);
    assert.equal(await tcpRequest(['ip', 'netns', 'exec', w.outside], '172.17.0.2', 8080, 1000), 'TIMEOUT');
  });

  test('ps and inspect show Docker-shaped data', async () => {
    const ps = await w.berthOk('ps');
    assert.match(ps, /^CONTAINER ID\s+COMMAND/);
    assert.match(ps, /Up .*bridge\s+172\.17\.0\.3\s+b$/m);
    const [a] = JSON.parse(await w.berthOk('inspect', 'a')) as [Record<string, any>];
    const net = a.NetworkSettings.Networks.bridge;
    assert.equal(net.IPAddress, '172.17.0.2');
    assert.equal(net.Gateway, '172.17.0.1');
    assert.equal(net.IPPrefixLen, 16);
    assert.equal(net.MacAddress, '02:42:ac:11:00:02');
    assert.match(net.EndpointID, /^[0-9a-f]{64}$/);
    assert.match(net.NetworkID, /^[0-9a-f]{64}$/);
    assert.equal(a.Name, '/a');
    assert.equal(a.State.Running, true);
    assert.match(a.NetworkSettings.SandboxKey, /^\/run\/netns\/berth-[0-9a-f]{12}$/);
  });

  test('the HTTP API speaks Docker\'s paths (with a version prefix), shapes and error statuses', async () => {
    const get = (path: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        request({ socketPath: w.socket, path }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        }).on('error', reject).end();
      });
    const list = await get('/v1.43/containers/json');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.map((c: any) => c.Names[0]).sort(), ['/a', '/b']);
    assert.equal(list.body.find((c: any) => c.Names[0] === '/b').NetworkSettings.Networks.bridge.IPAddress, '172.17.0.3');
    const missing = await get('/containers/nope/json');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { code: 'not_found', message: 'no such container: nope', hint: 'list containers with: berth ps -a' });
    const network = await get('/networks/bridge');
    assert.equal(network.body.IPAM.Config[0].Subnet, '172.17.0.0/16');
    assert.deepEqual(Object.values(network.body.Containers).map((c: any) => c.IPv4Address).sort(), ['172.17.0.2/16', '172.17.0.3/16']);
  });

  test('attached run streams stdout and stderr and returns the exit code; --rm removes it', async () => {
    const r = await w.berth('run', '--rm', '--name', 'once', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.doesNotMatch(await w.berthOk('ps', '-a'), /once/);
  });

  test('logs shows a detached container\'s output; an exited container is listed with its code', async () => {
    await w.berthOk('run', '-d', '--name', 'talker', '-e', 'WORD=hi', '--', 'sh', '-c', 'echo "$WORD there"; exit 4');
    const waited = await w.berth('wait', 'talker');
    // Like docker wait: the code is printed, and wait itself succeeded.
    assert.deepEqual([waited.code, waited.stdout], [0, '4\n']);
    assert.equal(await w.berthOk('logs', 'talker'), 'hi there\n');
    assert.match(await w.berthOk('ps', '-a'), /Exited \(4\).*talker$/m);
    await w.berthOk('rm', 'talker');
  });

  test('rm -f stops the processes and removes veths, namespaces and state', async () => {
    const [a] = JSON.parse(await w.berthOk('inspect', 'a')) as [Record<string, any>];
    const pid: number = a.State.Pid;
    const veth: string = a.NetworkSettings.Networks.bridge.BerthHostInterface;
    const before = await listBerthNetns();
    const sandboxKey: string = a.NetworkSettings.SandboxKey;
    assert.ok(before.includes(sandboxKey.slice('/run/netns/'.length)));
    // Read as the daemon's next start would (reading changes nothing on disk).
    const records = (collection: 'containers' | 'endpoints') => new LocalStore(`${w.dir}/data/store`).list(collection);
    assert.equal((await records('endpoints')).length, 2, 'one record per endpoint');
    await w.berthOk('rm', '-f', 'a', 'b');
    assert.deepEqual(await listBerthNetns(), []);
    // The kernel removes the veth pairs of a deleted namespace asynchronously (~100 ms).
    assert.equal(await eventually(async () => (await run('ip', ['-n', w.host, 'link', 'show', 'dev', veth])).code === 1), true);
    assert.equal(await eventually(async () => (await must('ip', ['-n', w.host, '-j', 'link', 'show', 'master', 'berth0'])).trim() === '[]'), true);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.equal((await w.berthOk('ps', '-a', '-q')).trim(), '');
    assert.deepEqual(await records('containers'), []);
    assert.deepEqual(await records('endpoints'), [], 'their endpoint records went with them');
    // The freed address is handed out again.
    await w.berthOk('run', '-d', '--name', 'c', '--', 'sleep', '1000');
    assert.equal((await w.berthOk('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'c')).trim(), '172.17.0.2');
  });
});
