/**
 * A DNS client for tests, run inside a container: `node dns-query.js SERVER NAME [TYPE] [udp|tcp] [TIMEOUT_MS]`.
 * Prints {"rcode", "answers": [data...]} or {"rcode": "TIMEOUT"}; one query, no retries, so
 * what it prints is exactly what the server answered.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';

const [server = '127.0.0.11', name = '', type = 'A', transport = 'udp', timeoutText = '4500'] = process.argv.slice(2);
const query = dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as dnsPacket.RecordType, name }] });

function print(reply: Buffer): void {
  const p = dnsPacket.decode(reply);
  console.log(JSON.stringify({ rcode: (p as { rcode?: string }).rcode, answers: (p.answers ?? []).map((a) => String((a as { data: unknown }).data)) }));
  process.exit(0);
}

setTimeout(() => {
  console.log(JSON.stringify({ rcode: 'TIMEOUT' }));
  process.exit(0);
}, Number(timeoutText));

if (transport === 'tcp') {
  const s = connect({ host: server, port: 53 }, () => {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.length);
    s.write(Buffer.concat([length, query]));
  });
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) print(got.subarray(2, 2 + got.readUInt16BE(0)));
  });
  s.on('error', (e) => {
    console.log(JSON.stringify({ rcode: e.message }));
    process.exit(0);
  });
} else {
  const s = createSocket('udp4');
  s.on('message', print);
  s.send(query, 53, server);
}
