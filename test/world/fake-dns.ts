/**
 * A fake upstream DNS server for tests, run on the outside host: `node fake-dns.js ADDRESS`.
 * It knows a few names under .example, never answers names under silent.example (an
 * upstream that hangs) and answers NXDOMAIN for everything else; every question it gets
 * is printed, so a test can tell what berth forwarded (and what not).
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import * as dnsPacket from 'dns-packet';

const KNOWN: Record<string, string> = {
  'outside.example': '203.0.113.7',
  'www.corp.example': '203.0.113.8',
};

const address = process.argv[2] ?? '127.0.0.1';

function reply(message: Buffer): Buffer {
  const q = dnsPacket.decode(message);
  const question = q.questions![0]!;
  console.log(`query ${question.type} ${question.name}`);
  const known = KNOWN[question.name.toLowerCase()];
  const answers: dnsPacket.Answer[] = known && question.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, data: known }] : [];
  const rcode = known ? 0 : 3;
  return dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | rcode, questions: q.questions, answers });
}

const udp = createSocket('udp4');
const silent = (m: Buffer) => dnsPacket.decode(m).questions![0]!.name.toLowerCase().endsWith('silent.example');
udp.on('message', (m, r) => {
  const answer = reply(m);
  if (!silent(m)) udp.send(answer, r.port, r.address);
});
udp.bind(53, address, () => {
  createServer((s) => {
    s.on('data', (d: Buffer) => {
      const answer = reply(d.subarray(2, 2 + d.readUInt16BE(0)));
      const length = Buffer.alloc(2);
      length.writeUInt16BE(answer.length);
      s.end(Buffer.concat([length, answer]));
    });
  }).listen(53, address, () => console.log('listening'));
});
