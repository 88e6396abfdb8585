import { mkdir, open, type FileHandle } from 'node:fs/promises';
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

/** One log file being streamed: where the stream is in it, and the file, once open. */
export interface LogSource {
  readonly stream: 1 | 2;
  readonly path: string;
  offset: number;
  /** Kept open once opened: a container removed at its exit (--rm) takes its files, not what is left to send. */
  handle?: FileHandle;
}

const POLL_MS = 30;

/**
 * Opens what a stream will copy, with where it starts: the files' beginning, or (attach)
 * their end now. `create` makes the files exist first (an attach before the container's
 * first start). An attach opens its sources before it answers the client: a client starts
 * the container only once attached, so no output can fall between the answer and the
 * offsets (a foreground `docker run` whose command writes and exits at once gets it all,
 * even when --rm takes the files at the exit).
 */
export async function openLogSources(
  paths: { stdoutPath?: string; stderrPath?: string },
  opts: { from: 'start' | 'now'; create: boolean },
): Promise<LogSource[]> {
  const wanted: { stream: 1 | 2; path: string }[] = [];
  if (paths.stdoutPath) wanted.push({ stream: 1, path: paths.stdoutPath });
  if (paths.stderrPath) wanted.push({ stream: 2, path: paths.stderrPath });
  const sources: LogSource[] = [];
  try {
    for (const { stream, path } of wanted) {
      const handle = opts.create ? await createLogFile(path) : await open(path, 'r').catch(() => undefined);
      sources.push({ stream, path, handle, offset: opts.from === 'start' || !handle ? 0 : (await handle.stat()).size });
    }
    return sources;
  } catch (err) {
    await closeLogSources(sources);
    throw err;
  }
}

export async function closeLogSources(sources: readonly LogSource[]): Promise<void> {
  for (const source of sources) await source.handle?.close();
}

/** Opens a log file for reading, making it (and its directory) if it is not there yet. */
async function createLogFile(path: string): Promise<FileHandle> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Appending mode only creates; reads are positioned (pread), so O_APPEND does not affect them.
  return open(path, 'a+', LOG_FILE_MODE);
}

/**
 * Copies what the sources hold past their offsets to `out` as frames. With `follow`, keeps
 * copying until `exited` resolves, then drains what is left (the files are written by the
 * container directly, so this keeps working across daemon restarts). The caller closes
 * the sources.
 */
export async function streamLogs(out: Writable, sources: readonly LogSource[], follow: { exited: Promise<unknown> } | undefined): Promise<void> {
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

async function copyNew(source: LogSource, out: Writable): Promise<void> {
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
