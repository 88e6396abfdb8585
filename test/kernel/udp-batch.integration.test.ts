import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { bindUdpDescriptorInNetns, sockaddrIn } from '../../src/kernel/netns-sockets.js';
import { BATCH, closeDescriptor, createWakeDescriptor, DatagramBatch, ReadinessSet, sendDatagram, wakeUp } from '../../src/kernel/udp-batch.js';
import { sandboxSkip } from '../world/world.js';

/**
 * Batched UDP on real sockets (the DNS answering thread's I/O): a namespace of the
 * sandbox's own, a socket bound in it, and a client process in it sending a burst.
 */
const NETNS = 'berth-udp-batch';
const PORT = 5300;

/** A client in the namespace: sends `count` datagrams (id i, then "q<i>") and one of 5,000 bytes, says "sent", prints the replies it got within 2 s. */
const CLIENT = `
const s = require('dgram').createSocket('udp4');
const got = [];
s.on('message', (m) => got.push({ id: m.readUInt16BE(0), text: m.subarray(2).toString() }));
s.bind(0, '127.0.0.1', () => {
  const count = Number(process.argv[1]);
  let pending = count + 1;
  const done = () => { if (--pending === 0) { process.stdout.write('sent\\n'); setTimeout(() => { process.stdout.write(JSON.stringify(got) + '\\n'); process.exit(0); }, 2000); } };
  for (let i = 0; i < count; i++) { const b = Buffer.alloc(14); b.writeUInt16BE(i, 0); b.write('q' + i, 2); s.send(b, ${PORT}, '127.0.0.1', done); }
  s.send(Buffer.alloc(5000), ${PORT}, '127.0.0.1', done);
});`;

describe('batched UDP: recvmmsg, sendmmsg, epoll', { skip: sandboxSkip }, () => {
  before(() => {
    spawnSync('ip', ['netns', 'add', NETNS]);
    spawnSync('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
  });
  after(() => spawnSync('ip', ['netns', 'delete', NETNS]));

  test('one receive reads a burst of BATCH datagrams; replies reach each sender with its id written in; an oversize datagram is flagged', async () => {
    const fd = bindUdpDescriptorInNetns(NETNS, '127.0.0.1', PORT);
    const batch = new DatagramBatch();
    try {
      const client = spawn('ip', ['netns', 'exec', NETNS, process.execPath, '-e', CLIENT, '100']);
      let out = '';
      client.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const sent = new Promise<void>((resolve) => client.stdout.on('data', () => out.includes('sent') && resolve()));
      await sent;
      const sizes: number[] = [];
      let oversize = 0;
      for (let n = batch.receive(fd); n > 0; n = batch.receive(fd)) {
        sizes.push(n);
        for (let i = 0; i < n; i++) {
          const d = batch.datagram(i);
          if (!d) {
            oversize++;
            continue;
          }
          // The reply carries the query's text back, under an id written by reply().
          const reply = Buffer.from(`xxr${Buffer.from(d.subarray(2)).toString().replace(/\0+$/, '')}`);
          assert.ok(batch.reply(i, reply, d[0]! * 256 + d[1]!));
        }
        batch.flush(fd);
      }
      assert.deepEqual(sizes, [BATCH, 101 - BATCH], 'the burst is read in two receives');
      assert.equal(oversize, 1);
      await new Promise((resolve) => client.on('exit', resolve));
      const got = JSON.parse(out.split('\n')[1]!) as { id: number; text: string }[];
      assert.equal(got.length, 100);
      for (const g of got) assert.equal(g.text, `rq${g.id}`);
    } finally {
      batch.free();
      closeDescriptor(fd);
    }
  });

  test('epoll reports a wake-up and a readable socket by their tokens; sendDatagram reaches an address', () => {
    const wakeFd = createWakeDescriptor();
    const ready = new ReadinessSet(8, wakeFd, 0);
    const server = bindUdpDescriptorInNetns(NETNS, '127.0.0.1', PORT);
    const sender = bindUdpDescriptorInNetns(NETNS, '127.0.0.1', PORT + 1);
    try {
      ready.add(server, 7);
      wakeUp(wakeFd);
      assert.deepEqual(ready.wait(), [0]);
      ready.drainWake();
      assert.ok(sendDatagram(sender, Buffer.from('hello'), sockaddrIn('127.0.0.1', PORT)));
      assert.deepEqual(ready.wait(), [7]);
      ready.remove(server);
      wakeUp(wakeFd);
      assert.deepEqual(ready.wait(), [0], 'a removed socket is not reported, though still readable');
    } finally {
      ready.close();
      closeDescriptor(server);
      closeDescriptor(sender);
      closeDescriptor(wakeFd);
    }
  });
});
