import type { Readable, Writable } from 'node:stream';

/** Splits Docker's multiplexed stream (see api/logs.ts) back into stdout and stderr. */
export async function demultiplex(input: Readable, stdout: Writable, stderr: Writable): Promise<void> {
  let pending = Buffer.alloc(0);
  for await (const chunk of input) {
    pending = Buffer.concat([pending, chunk as Buffer]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      (pending[0] === 2 ? stderr : stdout).write(payload);
      pending = pending.subarray(8 + size);
    }
  }
}
