import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { LOG_FILE_MODE } from '../kernel/process.js';

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
  /** Kept open once opened: a container removed at its exit (--rm) takes its files, not what is left to send. */
  handle?: FileHandle;
}

const POLL_MS = 30;

/**
 * Copies a container's log files to `out` as frames, from their start or (attach) from
 * what they hold now. With `follow`, keeps copying until `exited` resolves, then drains
 * what is left (the files are written by the container directly, so this keeps working
 * across daemon restarts).
 */
export async function streamLogs(
  out: Writable,
  paths: { stdoutPath?: string; stderrPath?: string },
  follow: { exited: Promise<unknown> } | undefined,
  from: 'start' | 'now' = 'start',
): Promise<void> {
  const sources: Source[] = [];
  const offset = async (path: string) => (from === 'start' ? 0 : ((await stat(path).catch(() => undefined))?.size ?? 0));
  if (paths.stdoutPath) sources.push({ stream: 1, path: paths.stdoutPath, offset: await offset(paths.stdoutPath) });
  if (paths.stderrPath) sources.push({ stream: 2, path: paths.stderrPath, offset: await offset(paths.stderrPath) });
  let done = follow === undefined;
  void follow?.exited.then(() => (done = true));
  let closed = false;
  out.once('close', () => (closed = true));
  try {
    for (;;) {
      const finishing = done;
      for (const source of sources) await copyNew(source, out);
      if (finishing || closed) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    for (const source of sources) await source.handle?.close();
  }
}

async function copyNew(source: Source, out: Writable): Promise<void> {
  try {
    source.handle ??= await open(source.path, 'r');
  } catch {
    return; // not written yet, or removed with the container
  }
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    const { bytesRead } = await source.handle.read(buffer, 0, buffer.length, source.offset);
    if (bytesRead === 0) return;
    source.offset += bytesRead;
    out.write(frame(source.stream, Buffer.from(buffer.subarray(0, bytesRead))));
  }
}

/** Makes the log files exist (empty), so a stream attached before the container starts holds them from the first byte. */
export async function ensureLogFiles(paths: { stdoutPath: string; stderrPath: string }): Promise<void> {
  for (const path of [paths.stdoutPath, paths.stderrPath]) {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await (await open(path, 'a', LOG_FILE_MODE)).close();
  }
}
