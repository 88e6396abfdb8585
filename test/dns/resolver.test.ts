import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { UpstreamForwarder, UpstreamUnavailableError } from '../../src/dns/forwarder.js';
import { buildNameIndex } from '../../src/dns/names.js';
import { EmbeddedResolver, type ResolverSource } from '../../src/dns/resolver.js';
import { parseQuery } from '../../src/dns/wire.js';

/** The resolver's answers without sockets: a fixed name view and a scripted upstream. */
const index = buildNameIndex([
  { containerId: 'a'.repeat(64), containerName: 'db', networkId: 'app', networkName: 'app', address: '172.18.0.2', aliases: [] },
  ...Array.from({ length: 40 }, (_, i) => ({ containerId: `${i}`.padStart(64, 'f'), containerName: `w${i}`, networkId: 'app', networkName: 'app', address: `172.18.1.${i + 1}`, aliases: ['many'] })),
]);

function source(upstreams: string[] = ['192.0.2.53'], mayForward = true): ResolverSource {
  return { index: () => index, networksOf: (id) => (id === 'querier' ? ['app'] : []), upstreamsOf: () => upstreams, mayForward: () => mayForward };
}

class ScriptedForwarder extends UpstreamForwarder {
  readonly asked: string[] = [];
  constructor(private readonly reply: (query: Buffer) => Buffer | undefined) {
    super();
  }
  override forward(query: Buffer, servers: readonly string[]): Promise<Buffer> {
    this.asked.push(`${servers.join(',')} ${dnsPacket.decode(query).questions![0]!.name}`);
    const r = this.reply(query);
    return r ? Promise.resolve(r) : Promise.reject(new UpstreamUnavailableError('no upstream answered'));
  }
}

const query = (name: string, type: dnsPacket.RecordType = 'A', id = 7) =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });

async function ask(resolver: EmbeddedResolver, name: string, type: dnsPacket.RecordType = 'A', transport: 'udp' | 'tcp' = 'udp') {
  const reply = dnsPacket.decode((await resolver.respond('querier', query(name, type), transport))!) as dnsPacket.DecodedPacket & { rcode: string };
  return { id: reply.id, rcode: reply.rcode, tc: reply.flag_tc, aa: reply.flag_aa, answers: (reply.answers ?? []).map((a) => `${a.type} ${String((a as { data: unknown }).data)}`) };
}

test('local names: A with the address, AAAA empty at once, neighbours of other networks NXDOMAIN', async () => {
  const upstream = new ScriptedForwarder(() => undefined);
  const r = new EmbeddedResolver(source(), upstream);
  assert.deepEqual(await ask(r, 'db'), { id: 7, rcode: 'NOERROR', tc: false, aa: true, answers: ['A 172.18.0.2'] });
  assert.deepEqual((await ask(r, 'db', 'AAAA')).answers, []);
  assert.equal((await ask(r, 'db', 'AAAA')).rcode, 'NOERROR');
  assert.deepEqual(await ask(r, '2.0.18.172.in-addr.arpa', 'PTR'), { id: 7, rcode: 'NOERROR', tc: false, aa: true, answers: ['PTR db.app'] });
  assert.deepEqual(upstream.asked, []);
  const stranger = dnsPacket.decode((await r.respond('nobody', query('db'), 'udp'))!) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(stranger.rcode, 'NXDOMAIN');
});

test('other names go upstream and come back with the query\'s id; no upstream answer is SERVFAIL', async () => {
  const upstream = new ScriptedForwarder((q) => {
    const name = dnsPacket.decode(q).questions![0]!.name;
    if (name !== 'outside.example') return undefined;
    return dnsPacket.encode({ type: 'response', id: dnsPacket.decode(q).id, questions: [{ type: 'A', name }], answers: [{ type: 'A', name, data: '203.0.113.7' }] });
  });
  const r = new EmbeddedResolver(source(['192.0.2.53', '192.0.2.54']), upstream);
  assert.deepEqual(await ask(r, 'outside.example'), { id: 7, rcode: 'NOERROR', tc: false, aa: false, answers: ['A 203.0.113.7'] });
  assert.equal((await ask(r, 'dead.example')).rcode, 'SERVFAIL');
  assert.deepEqual(upstream.asked, ['192.0.2.53,192.0.2.54 outside.example', '192.0.2.53,192.0.2.54 dead.example']);
});

test('a UDP answer over 512 bytes is truncated (the client retries over TCP, which gets it whole)', async () => {
  const r = new EmbeddedResolver(source(), new ScriptedForwarder(() => undefined));
  const udp = await ask(r, 'many');
  assert.deepEqual([udp.tc, udp.answers.length], [true, 0]);
  const tcp = await ask(r, 'many', 'A', 'tcp');
  assert.deepEqual([tcp.tc, tcp.answers.length], [false, 40]);
});

test('garbage gets FORMERR when it has a header, and nothing when it has not', async () => {
  const r = new EmbeddedResolver(source(), new ScriptedForwarder(() => undefined));
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 5, 0, 0, 0, 0, 0, 0, 0xff]);
  const reply = (await r.respond('querier', header, 'udp'))!;
  assert.deepEqual([reply.readUInt16BE(0), reply.readUInt16BE(2) & 0x800f], [0x1234, 0x8001]);
  assert.equal(await r.respond('querier', Buffer.from([1, 2, 3]), 'udp'), undefined);
});

test('a container with no way out (internal networks only) gets local names and REFUSED for the rest; nothing goes upstream', async () => {
  const upstream = new ScriptedForwarder(() => undefined);
  const r = new EmbeddedResolver(source(['192.0.2.53'], false), upstream);
  assert.deepEqual((await ask(r, 'db')).answers, ['A 172.18.0.2']);
  assert.equal((await ask(r, 'outside.example')).rcode, 'REFUSED');
  assert.deepEqual(upstream.asked, []);
});

test('a response (QR set) is never answered, so two resolvers cannot answer each other forever', async () => {
  const upstream = new ScriptedForwarder(() => undefined);
  const r = new EmbeddedResolver(source(), upstream);
  const response = dnsPacket.encode({ type: 'response', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'db' }] });
  assert.equal(await r.respond('querier', response, 'udp'), undefined);
  assert.deepEqual(upstream.asked, []);
});

test('name.network of a network the querier is not on, or of a network without containers, never goes upstream', async () => {
  const upstream = new ScriptedForwarder(() => undefined);
  const withEmpty = buildNameIndex([
    { containerId: 'b'.repeat(64), containerName: 'a1', networkId: 'neta', networkName: 'neta', address: '172.19.0.2', aliases: [] },
  ], ['neta', 'empty']);
  const r = new EmbeddedResolver({ index: () => withEmpty, networksOf: () => ['app'], upstreamsOf: () => ['192.0.2.53'], mayForward: () => true }, upstream);
  for (const name of ['a1.neta', 'anything.empty', 'a1']) assert.equal((await ask(r, name)).rcode, 'NXDOMAIN', name);
  assert.deepEqual(upstream.asked, []);
});

test('UPDATE, NOTIFY and other opcodes get NOTIMP with their opcode echoed; CHAOS (version.bind) gets REFUSED; nothing goes upstream', async () => {
  const upstream = new ScriptedForwarder(() => undefined);
  const r = new EmbeddedResolver(source(), upstream);
  for (const opcode of [1, 2, 4, 5, 15]) {
    const message = Buffer.from(query('example.com'));
    message.writeUInt16BE((opcode << 11) | 0x0100, 2);
    const reply = (await r.respond('querier', message, 'udp'))!;
    assert.deepEqual([(reply.readUInt16BE(2) >> 11) & 0xf, reply.readUInt16BE(2) & 0xf], [opcode, 4], `opcode ${opcode}`);
  }
  const chaos = dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'TXT', class: 'CH', name: 'version.bind' }] });
  const reply = dnsPacket.decode((await r.respond('querier', chaos, 'udp'))!) as dnsPacket.DecodedPacket & { rcode: string };
  assert.equal(reply.rcode, 'REFUSED');
  assert.deepEqual(upstream.asked, []);
});

test('10,000 hostile messages — random bytes, cut headers, compression loops, oversize, mangled queries — each get FORMERR, an answer or nothing, never a throw or a hang; garbage never goes upstream', async () => {
  // Only standard queries may go upstream: the scripted upstream checks each it is sent.
  const notQueries: string[] = [];
  const upstream = new ScriptedForwarder((sent) => {
    const q = parseQuery(sent);
    if (!q || q.opcode !== 0 || q.class !== 'IN') notQueries.push(sent.toString('hex'));
    return undefined;
  });
  const r = new EmbeddedResolver(source(), upstream);
  const valid = Buffer.from(query('db'));
  // A name whose compression pointer points at itself, and two pointing at each other.
  const selfLoop = Buffer.concat([valid.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  const twoLoop = Buffer.concat([valid.subarray(0, 12), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])]);
  const message = fc.oneof(
    fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
    fc.nat({ max: 11 }).map((n) => valid.subarray(0, n)),
    fc.constantFrom(selfLoop, twoLoop, Buffer.alloc(65_535, 0xc0), Buffer.concat([valid, Buffer.alloc(4000)])),
    // A real query with some bytes changed.
    fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
      const b = Buffer.from(valid);
      for (const [at, value] of edits) b[at] = value;
      return b;
    }),
  );
  await fc.assert(
    fc.asyncProperty(message, fc.constantFrom('udp' as const, 'tcp' as const), async (m, transport) => {
      const reply = await r.respond('querier', m, transport);
      if (reply === undefined) return;
      const header = reply.readUInt16BE(2);
      assert.ok((header & 0x8000) !== 0, 'a reply is a response');
      assert.equal(reply.readUInt16BE(0), m.readUInt16BE(0), 'with the query\'s id');
    }),
    { numRuns: 10_000, seed: Number(process.env.BERTH_FUZZ_SEED ?? Date.now() % 2 ** 31) },
  );
  assert.deepEqual(notQueries, []);
});
