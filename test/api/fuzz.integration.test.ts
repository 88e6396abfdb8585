import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { run, sandboxSkip, World } from '../world/world.js';
import { checkLeaksThenDispose } from '../world/leaks.js';

/**
 * Hostile input to the API (part 9): property-based requests, each built from a plausible
 * one with at least one part made wrong — malformed JSON, wrong types, huge and negative
 * numbers, unicode, path characters and `..` in names, overlong names, subnets such as
 * 0.0.0.0/0 or /32, overlapping pools, ports 0 and 65536, a 65,535-port range, 10,000
 * aliases, garbage MACs and addresses. Every answer must be a 4xx with a message, the
 * daemon must stay up, and its records, links and rules must be byte-for-byte as before.
 * BERTH_FUZZ_SEED=N reproduces a run (the seed is printed).
 */
const SEED = Number(process.env.BERTH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = 10_000;
const PARALLEL = 4;

/** The state no refused request may touch: every store file, the host's links and ruleset, the sandbox's links. */
async function snapshot(w: World, pid: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const root = join(w.dir, 'data', 'store');
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[join(entry.parentPath, entry.name)] = createHash('sha256').update(await readFile(join(entry.parentPath, entry.name))).digest('hex');
  }
  const links = await linksOf(['ip', '-n', w.host]);
  const inside = await linksOf(['nsenter', '-t', pid, '-n', 'ip']);
  const rules = (await run('ip', ['netns', 'exec', w.host, 'nft', 'list', 'ruleset'])).stdout;
  return { ...files, links, inside, rules };
}

/**
 * Links with their state, master, MAC and addresses, without what changes by itself (timers,
 * DAD flags, and carrier: a bridge without ports loses its carrier a moment after it is
 * made, when the kernel's link watch gets to it).
 */
async function linksOf(ip: readonly string[]): Promise<string> {
  const links = JSON.parse((await run(ip[0]!, [...ip.slice(1), '-j', 'addr', 'show'])).stdout) as { ifname: string; flags: string[]; master?: string; address?: string; addr_info: { family: string; local: string; prefixlen: number }[] }[];
  return JSON.stringify(links.map((l) => [l.ifname, l.flags.filter((f) => f !== 'NO-CARRIER' && f !== 'LOWER_UP'), l.master, l.address, l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)]));
}

const hostileName = fc.oneof(
  fc.constantFrom('..', '.', '/', 'a/b', '../etc', 'x'.repeat(300), '-lead', '_lead', 'ä', 'a b', 'a\u0000b', '%2e%2e', 'name\n'),
  fc.string({ minLength: 1, maxLength: 20 }).map((s) => `!${s}`),
);
const badPort = fc.oneof(fc.constantFrom('0', '65536', '-1', '99999999999999999999', '1.5', 'http', ' 80'), fc.integer({ min: 65_536 }).map(String));
const badAddress = fc.oneof(fc.constantFrom('0.0.0.0/0', '10.99.0.300', 'fe80::1', '256.1.1.1', '10.99.0', ' 10.99.0.5'), fc.string({ maxLength: 12 }).map((s) => `x${s}`));
const badMac = fc.oneof(fc.constantFrom('01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '02:42:ac:11:00', 'zz:zz:zz:zz:zz:zz', '02-42-ac-11-00-02x'), fc.string({ maxLength: 20 }).map((s) => `g${s}`));
const notAnObject = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string({ maxLength: 5 }), fc.array(fc.integer(), { maxLength: 3 }));
const wrongType = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }));

interface Request {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  /** Sent as is instead of a JSON body. */
  readonly raw?: Buffer;
}

/** Container creates, each with one or more of these mutations of a valid body on network fz. */
const createMutations: fc.Arbitrary<(b: Record<string, any>) => void>[] = [
  wrongType.map((v) => (b) => void (b.Cmd = typeof v === 'object' && Array.isArray(v) ? [v] : v)),
  fc.string({ maxLength: 10 }).filter((s) => !['host', ''].includes(s)).map((image) => (b) => void (b.Image = image)),
  fc.constant((b) => void (b.Tty = true)),
  badPort.map((port) => (b) => void (b.HostConfig.PortBindings = { '80/tcp': [{ HostPort: port }] })),
  badPort.map((port) => (b) => void (b.HostConfig.PortBindings = { [`${port}/tcp`]: [{ HostPort: '8080' }] })),
  fc.constant((b) => void (b.NetworkingConfig.EndpointsConfig.fz.Aliases = Array.from({ length: 10_000 }, (_, i) => `a${i}`))),
  hostileName.map((alias) => (b) => void (b.NetworkingConfig.EndpointsConfig.fz.Aliases = [alias])),
  badMac.map((mac) => (b) => void (b.NetworkingConfig.EndpointsConfig.fz.MacAddress = mac)),
  badAddress.map((ip) => (b) => void (b.NetworkingConfig.EndpointsConfig.fz.IPAMConfig = { IPv4Address: ip })),
  fc.constantFrom('bad host', 'x'.repeat(100), '-x', '.x', 'ä').map((h) => (b) => void (b.Hostname = h)),
  fc.constantFrom(['noequals'], ['A=\u0000'], [7]).map((env) => (b) => void (b.Env = env)),
  badAddress.map((dns) => (b) => void (b.HostConfig.Dns = [dns])),
  fc.constantFrom('nohost', 'h:300.1.1.1', ':1.2.3.4').map((h) => (b) => void (b.HostConfig.ExtraHosts = [h])),
  fc.constantFrom('nonexistent-net', 'container:nope', 'container:', '').map((mode) => (b) => void (b.HostConfig.NetworkMode = mode)),
  wrongType.map((v) => (b) => void (b.HostConfig = v === null ? 5 : v)),
];

function createBody(): Record<string, any> {
  return { Image: 'host', Cmd: ['sleep', '1'], HostConfig: { NetworkMode: 'fz' }, NetworkingConfig: { EndpointsConfig: { fz: {} } } };
}

const containerCreate: fc.Arbitrary<Request> = fc.oneof(
  fc.array(fc.oneof(...createMutations), { minLength: 1, maxLength: 3 }).map((ms) => {
    const body = createBody();
    for (const m of ms) {
      try {
        m(body);
      } catch {
        // An earlier mutation made that part no object (HostConfig: 5): the body is wrong already.
      }
    }
    return { method: 'POST', path: '/containers/create', body };
  }),
  hostileName.map((name) => ({ method: 'POST', path: `/containers/create?name=${encodeURIComponent(name)}`, body: createBody() })),
);

const networkCreate: fc.Arbitrary<Request> = fc.oneof(
  hostileName.map((name) => ({ method: 'POST', path: '/networks/create', body: { Name: name } })),
  fc.constantFrom('0.0.0.0/0', '10.98.0.1/32', '10.98.0.0/31', '10.99.0.0/24', '10.99.0.0/16', '300.0.0.0/8', '10.98.0.0', 'fe80::/64', 'garbage').map((subnet) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', IPAM: { Config: [{ Subnet: subnet }] } } })),
  badAddress.map((gw) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', IPAM: { Config: [{ Subnet: '10.98.0.0/24', Gateway: gw }] } } })),
  fc.constantFrom('-1', '0', '99999999', 'big').map((mtu) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', Options: { 'com.docker.network.driver.mtu': mtu } } })),
  fc.string({ maxLength: 8 }).filter((d) => !['', 'bridge'].includes(d)).map((driver) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', Driver: driver } })),
  notAnObject.map((v) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', IPAM: v } })),
  notAnObject.filter((v) => typeof v !== 'boolean').map((v) => ({ method: 'POST', path: '/networks/create', body: { Name: 'fznew', Internal: v } })),
  fc.constant({ method: 'POST', path: '/networks/create', body: { Name: 'fz' } }),
);

const connect: fc.Arbitrary<Request> = fc.oneof(
  fc.constant({ method: 'POST', path: '/networks/fz/connect', body: { Container: 'c1' } }),
  hostileName.map((c) => ({ method: 'POST', path: '/networks/fz/connect', body: { Container: c } })),
  hostileName.map((n) => ({ method: 'POST', path: `/networks/${encodeURIComponent(n)}/connect`, body: { Container: 'c1' } })),
  fc.constant({ method: 'POST', path: '/networks/fz2/connect', body: { Container: 'c1', EndpointConfig: { Aliases: Array.from({ length: 10_000 }, (_, i) => `a${i}`) } } }),
  badAddress.map((ip) => ({ method: 'POST', path: '/networks/fz2/connect', body: { Container: 'c1', EndpointConfig: { IPAMConfig: { IPv4Address: ip } } } })),
  badMac.map((mac) => ({ method: 'POST', path: '/networks/fz2/connect', body: { Container: 'c1', EndpointConfig: { MacAddress: mac } } })),
  wrongType.map((v) => ({ method: 'POST', path: '/networks/fz2/connect', body: { Container: v } })),
);

const malformed: fc.Arbitrary<Request> = fc.oneof(
  fc.string({ maxLength: 40 }).map((text) => ({ method: 'POST', path: '/containers/create', raw: Buffer.from(`{${text}`) })),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ method: 'POST', path: '/networks/create', raw: Buffer.concat([Buffer.from('{"Name":'), Buffer.from(bytes)]) })),
  fc.constantFrom('[]', '7', '"x"', 'null', '{"Name": 1e999}', '['.repeat(5000)).map((text) => ({ method: 'POST', path: '/networks/create', raw: Buffer.from(text) })),
  fc.constantFrom('/containers/%ZZ/json', '/containers/../../etc/passwd/json', '/networks/%2e%2e', '/v1.99/containers/nope/json', '/nope', '/containers/%C3%A4/json', '/containers/%00/json').map((path) => ({ method: 'GET', path })),
);

/**
 * Every kind, network creates less often: each reads the host's routes (an `ip` process)
 * before it can be refused, at several times the cost of the others.
 */
const REQUEST = fc.oneof({ arbitrary: containerCreate, weight: 3 }, { arbitrary: networkCreate, weight: 1 }, { arbitrary: connect, weight: 2 }, { arbitrary: malformed, weight: 2 });

/** The large ones, once each rather than thousands of times: over the body cap, and over the port cap. */
const LARGE: readonly Request[] = [
  { method: 'POST', path: '/networks/create', raw: Buffer.alloc(5 << 20, 0x20) },
  { method: 'POST', path: '/containers/create', body: { ...createBody(), HostConfig: { NetworkMode: 'fz', PortBindings: Object.fromEntries(Array.from({ length: 65_535 }, (_, i) => [`${i + 1}/tcp`, [{ HostPort: String(i + 1) }]])) } } },
];

describe('fuzzing the API: hostile requests change nothing', { skip: sandboxSkip }, () => {
  let w: World;
  let pid = '';
  before(async () => {
    w = await World.create();
    await w.berthOk('network', 'create', '--subnet', '10.99.0.0/24', 'fz');
    await w.berthOk('network', 'create', 'fz2');
    await w.berthOk('run', '-d', '--name', 'c1', '--network', 'fz', '-p', '1180:80', '--', 'sleep', '600');
    pid = (await w.berthOk('inspect', '-f', '{{.State.Pid}}', 'c1')).trim();
  });
  after(() => checkLeaksThenDispose(w));

  test(`${RUNS} generated requests are each a 4xx with a message, and records, links and rules are unchanged (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
    const before = await snapshot(w, pid);
    const statuses = new Map<number, number>();
    // PARALLEL requests at a time (the daemon serves them concurrently; a refusal must not depend on being alone).
    await fc.assert(
      fc.asyncProperty(fc.array(REQUEST, { minLength: PARALLEL, maxLength: PARALLEL }), async (requests) => {
        await Promise.all(
          requests.map(async (r) => {
            const reply = await w.api(r.method, r.path, r.body, r.raw);
            statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
            assert.ok(reply.status >= 400 && reply.status < 500, `${r.method} ${r.path.slice(0, 80)} ${JSON.stringify(r.body ?? r.raw?.toString('utf8', 0, 60))?.slice(0, 300)} -> ${reply.status} ${reply.body.slice(0, 300)}`);
            const message = (JSON.parse(reply.body) as { message?: unknown }).message;
            assert.ok(typeof message === 'string' && message.length > 0, `no message: ${reply.body.slice(0, 200)}`);
          }),
        );
      }),
      { numRuns: RUNS / PARALLEL, seed: SEED, endOnFailure: true },
    );
    const large = await Promise.all(LARGE.map((r) => w.api(r.method, r.path, r.body, r.raw)));
    assert.deepEqual(large.map((r) => r.status), [413, 400]);
    assert.match(large[1]!.body, /too many published ports: 65535, the cap is 16384/);
    assert.equal((await w.api('GET', '/_ping')).status, 200, 'the daemon is up');
    assert.deepEqual(await snapshot(w, pid), before);
    t.diagnostic(`seed ${SEED}: ${RUNS} requests, statuses ${[...statuses].sort().map(([s, n]) => `${s}×${n}`).join(' ')}`);
  });
});
