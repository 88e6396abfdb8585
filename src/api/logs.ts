import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/**
 * Container output in Docker's multiplexed stream format (stdcopy): each frame is an
 * 8-byte header — stream (1 stdout, 2 stderr), three zero bytes, big-endian length —
 * followed by that many bytes. The docker CLI and SDKs demultiplex it.
 */
export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

interface Source {
  readonly stream: 1 | 2;
  readonly path: string;
  offset: number;
}

const POLL_MS = 30;

/**
 * Copies a container's log files to `out` as frames. With `follow`, keeps copying until
 * `exited` resolves, then drains what is left (the files are written by the container
 * directly, so this keeps working across daemon restarts).
 */
export async function streamLogs(
  out: Writable,
  paths: { stdoutPath?: string; stderrPath?: string },
  follow: { exited: Promise<unknown> } | undefined,
): Promise<void> {
  const sources: Source[] = [];
  if (paths.stdoutPath) sources.push({ stream: 1, path: paths.stdoutPath, offset: 0 });
  if (paths.stderrPath) sources.push({ stream: 2, path: paths.stderrPath, offset: 0 });
  let done = follow === undefined;
  void follow?.exited.then(() => (done = true));
  let closed = false;
  out.once('close', () => (closed = true));
  for (;;) {
    const finishing = done;
    for (const source of sources) await copyNew(source, out);
    if (finishing || closed) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function copyNew(source: Source, out: Writable): Promise<void> {
  let handle;
  try {
    handle = await open(source.path, 'r');
  } catch {
    return; // not written yet, or removed with the container
  }
  try {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, source.offset);
      if (bytesRead === 0) return;
      source.offset += bytesRead;
      out.write(frame(source.stream, Buffer.from(buffer.subarray(0, bytesRead))));
    }
  } finally {
    await handle.close();
  }
}
