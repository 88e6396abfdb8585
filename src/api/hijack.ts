import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable, Writable } from 'node:stream';
import { InvalidArgumentError } from '../common/errors.js';
import { MAX_BODY_BYTES } from '../common/json-body.js';
import type { ExecProcess } from '../kernel/container-exec.js';
import { frame } from './logs.js';

/**
 * Docker's hijacked connections (exec start, attach): the client asks to upgrade the HTTP
 * connection ("Connection: Upgrade", "Upgrade: tcp"), the daemon answers 101, and from then
 * on the socket carries stdin one way and the output the other — raw with a TTY, else in
 * the multiplexed frames of logs.ts. The client half-closes its side when stdin ends.
 */

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MULTIPLEXED_STREAM = 'application/vnd.docker.multiplexed-stream';

/** The request's JSON body, read off the upgraded socket (`head` holds what Node read past the headers); what follows it is stdin. */
export async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<{ body: unknown; rest: Buffer }> {
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0 || length > MAX_BODY_BYTES) throw new InvalidArgumentError(`invalid Content-Length ${String(req.headers['content-length'])}`);
  let buffered = head;
  while (buffered.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => {
        socket.off('end', onEnd);
        socket.pause();
        resolve(d);
      };
      const onEnd = () => {
        socket.off('data', onData);
        resolve(null);
      };
      socket.once('data', onData);
      socket.once('end', onEnd);
      socket.resume();
    });
    if (chunk === null) break;
    buffered = Buffer.concat([buffered, chunk]);
  }
  const text = buffered.subarray(0, length).toString('utf8');
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      throw new InvalidArgumentError('invalid request: the body is not valid JSON');
    }
  }
  return { body, rest: buffered.subarray(length) };
}

/** Switches the connection to the raw stream. */
export function acceptUpgrade(socket: Duplex, tty: boolean): void {
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${tty ? RAW_STREAM : MULTIPLEXED_STREAM}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
}

/** An error before the switch, as an ordinary HTTP response on the raw socket. */
export function refuseUpgrade(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 409 ? 'Conflict' : status === 400 ? 'Bad Request' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}

/**
 * Relays an exec's streams over a connection until the command has exited and its output
 * is drained: stdin from `input` (when attached), the output framed unless it is a TTY.
 * Resolves with the exit code, which is recorded before the connection ends (clients ask
 * for it right after the stream closes).
 */
export async function relayExec(proc: ExecProcess, out: Writable, input: Readable | undefined, opts: { tty: boolean; stdout: boolean; stderr: boolean }): Promise<number> {
  const outputs: Promise<void>[] = [];
  const copy = (source: Readable, stream: 1 | 2, wanted: boolean) =>
    new Promise<void>((resolve) => {
      source.on('data', (d: Buffer) => {
        if (wanted && out.writable) out.write(opts.tty ? d : frame(stream, d));
      });
      source.once('end', resolve);
      source.once('error', () => resolve());
    });
  outputs.push(copy(proc.stdout, 1, opts.stdout));
  if (proc.stderr) outputs.push(copy(proc.stderr, 2, opts.stderr));
  if (input) {
    input.on('data', (d: Buffer) => proc.stdin.write(d));
    input.once('end', () => proc.stdin.end());
    input.once('error', () => proc.stdin.end());
    input.resume();
  } else {
    proc.stdin.end();
  }
  const code = await proc.exited;
  await Promise.all(outputs);
  return code;
}
