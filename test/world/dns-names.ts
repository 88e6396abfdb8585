/**
 * Asks the embedded resolver (127.0.0.11) for the A records of several names at once, from
 * inside a container's namespace: `node dns-names.js NAME...`. Prints one JSON line per
 * name, {"name", "rcode", "addresses"}, in the order given; a name with no answer within
 * TIMEOUT_MS has rcode "TIMEOUT" and no addresses.
 */
import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';

const TIMEOUT_MS = 1500;
const names = process.argv.slice(2);
const results = new Map<number, { rcode: string; addresses: string[] }>();
const socket = createSocket('udp4');

function finish(): void {
  names.forEach((name, id) => console.log(JSON.stringify({ name, ...(results.get(id) ?? { rcode: 'TIMEOUT', addresses: [] }) })));
  process.exit(0);
}

socket.on('message', (reply) => {
  const p = dnsPacket.decode(reply);
  const id = p.id ?? -1;
  if (id < 0 || id >= names.length || results.has(id)) return;
  const addresses = (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : []));
  results.set(id, { rcode: (p as { rcode?: string }).rcode ?? '', addresses });
  if (results.size === names.length) finish();
});
setTimeout(finish, TIMEOUT_MS);
names.forEach((name, id) => socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, '127.0.0.11'));
if (names.length === 0) finish();
