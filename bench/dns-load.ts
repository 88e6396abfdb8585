/**
 * The DNS load client of bench/dns.ts, run inside a container's namespace:
 *   node dns-load.js SERVER NAMES(comma-separated) CONCURRENCY COUNT
 * Keeps CONCURRENCY queries in flight over UDP until COUNT have been answered (or 20 s
 * passed), each for a name picked in turn from NAMES, and prints one JSON line:
 * {qps, p50Ms, p99Ms, answered, errors}. The same client measures every server.
 */
import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { median, percentile } from './stats.js';

const [server = '127.0.0.11', namesText = '', concurrencyText = '8', countText = '20000'] = process.argv.slice(2);
const names = namesText.split(',').filter(Boolean);
const concurrency = Number(concurrencyText);
const count = Number(countText);
const DEADLINE_MS = 20_000;
const QUERY_TIMEOUT_MS = 2000;

const socket = createSocket('udp4');
const inFlight = new Map<number, { sentAt: bigint; timer: NodeJS.Timeout }>();
const latencies: number[] = [];
let sent = 0;
let errors = 0;
let nextId = 1;
const start = process.hrtime.bigint();

function finish(): void {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ qps: Math.round(latencies.length / seconds), p50Ms: median(latencies), p99Ms: percentile(latencies, 99), answered: latencies.length, errors }));
  process.exit(0);
}

function sendOne(): void {
  if (sent >= count) {
    if (inFlight.size === 0) finish();
    return;
  }
  const id = nextId;
  nextId = (nextId % 0xffff) + 1;
  const name = names[sent % names.length]!;
  sent++;
  const timer = setTimeout(() => {
    inFlight.delete(id);
    errors++;
    sendOne();
  }, QUERY_TIMEOUT_MS);
  inFlight.set(id, { sentAt: process.hrtime.bigint(), timer });
  socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, server);
}

socket.on('message', (reply) => {
  const id = reply.readUInt16BE(0);
  const entry = inFlight.get(id);
  if (!entry) return;
  clearTimeout(entry.timer);
  inFlight.delete(id);
  // rcode in the low 4 bits of the flags: anything but NOERROR counts as an error.
  if ((reply.readUInt16BE(2) & 0xf) !== 0) errors++;
  else latencies.push(Number(process.hrtime.bigint() - entry.sentAt) / 1e6);
  sendOne();
});

setTimeout(finish, DEADLINE_MS).unref();
for (let i = 0; i < concurrency; i++) sendOne();
