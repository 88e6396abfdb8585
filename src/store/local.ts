import { closeSync, ftruncateSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/errors.js';
import { checkRevision, settle, type Collection, type WriteOptions, type Store, type StoredValue } from './store.js';

/**
 * The embedded store: every value in memory, persisted under `<data-root>/store/` as a
 * snapshot (`snapshot.json`, written whole to a temporary file and renamed into place) and a
 * journal (`journal`) of one JSON line per write since, appended. A write is one append:
 * ~0.01 ms on this VM's ext4, where the file per value earlier releases wrote and renamed
 * into place cost 0.3-1 ms, most of it the file system finding an inode for the new file,
 * and a container's create and start wrote three (docs/decisions.md).
 *
 * A crash leaves either the old or the new version of a value, never half of one: a line
 * cut short by a crash is the journal's last, and is ignored (and dropped by the next
 * writer). Each line carries a sequence number, and the snapshot the number of the last line it holds, so a
 * crash between a snapshot's rename and the journal's truncation replays nothing twice.
 * Nothing asks for fsync, as before: a write is in the page cache when it returns, which
 * survives the daemon's crash, not the machine's.
 *
 * Reading has no side effect (the offline planner reads the store of a daemon that is not
 * running). The first write of a process rewrites the snapshot (so it starts from a journal
 * that is empty, without a cut line), and so does every COMPACT_EVERY lines beyond the values held.
 * Values from releases that kept one file per value (`<collection>/<id>.json`) are read when
 * there is no snapshot yet and move into the first one.
 *
 * One daemon writes the store, so revisions are checked against what it holds.
 */
export class LocalStore implements Store {
  private held: Held | undefined;
  private journal: Journal | undefined;

  constructor(private readonly root: string) {}

  list(collection: Collection, idPrefix = ''): Promise<StoredValue[]> {
    return settle(() => {
      const values = this.load().values.get(collection);
      if (!values) return [];
      return [...values.values()].filter((e) => e.id.startsWith(idPrefix)).map(stored);
    });
  }

  get(collection: Collection, id: string): Promise<StoredValue | undefined> {
    return settle(() => {
      const entry = this.load().values.get(collection)?.get(id);
      return entry && stored(entry);
    });
  }

  put(collection: Collection, id: string, value: unknown, opts: WriteOptions = {}): Promise<number> {
    return settle(() => {
      const current = this.load().values.get(collection)?.get(id)?.revision ?? 0;
      checkRevision(collection, id, opts, current);
      const entry: Entry = { id, revision: current + 1, text: JSON.stringify(value) };
      this.append(collection, entry);
      return entry.revision;
    });
  }

  create(collection: Collection, id: string, value: unknown): Promise<number> {
    return this.put(collection, id, value, { expectedRevision: 0 });
  }

  delete(collection: Collection, id: string, opts: WriteOptions = {}): Promise<void> {
    return settle(() => {
      const current = this.load().values.get(collection)?.get(id)?.revision ?? 0;
      checkRevision(collection, id, opts, current);
      if (current !== 0) this.append(collection, { id, revision: 0, text: '' });
    });
  }

  /** Journals one write (revision 0: a delete), then applies it to what is held. */
  private append(collection: Collection, entry: Entry): void {
    const held = this.load();
    const journal = this.journal ?? this.startJournal(held);
    const seq = held.seq + 1;
    const line = entry.revision === 0
      ? `{"s":${seq},"c":${JSON.stringify(collection)},"id":${JSON.stringify(entry.id)},"r":0}\n`
      : `{"s":${seq},"c":${JSON.stringify(collection)},"id":${JSON.stringify(entry.id)},"r":${entry.revision},"v":${entry.text}}\n`;
    journal.append(line);
    held.seq = seq;
    apply(held, collection, entry);
    if (++journal.lines <= COMPACT_EVERY + held.count) return;
    try {
      this.compact(held, journal);
    } catch (err) {
      // The write itself is journaled; the journal grows on and the next line tries again.
      console.error(`berth: cannot fold the store's journal into a new snapshot: ${(err as Error).message}`);
    }
  }

  /** The first write of this process: a fresh snapshot of what is held, then an empty journal to append to. */
  private startJournal(held: Held): Journal {
    mkdirSync(this.root, { recursive: true });
    const journal = new Journal(join(this.root, JOURNAL));
    try {
      this.compact(held, journal);
    } catch (err) {
      journal.close();
      throw err;
    }
    // An earlier release's files are in the snapshot now (or were, by an earlier start cut short here).
    for (const entry of readdirSync(this.root, { withFileTypes: true })) {
      if (entry.isDirectory()) rmSync(join(this.root, entry.name), { recursive: true, force: true });
    }
    this.journal = journal;
    return journal;
  }

  private compact(held: Held, journal: Journal): void {
    const collections: string[] = [];
    for (const [collection, values] of held.values) {
      if (values.size === 0) continue;
      const members = [...values.values()].map((e) => `${JSON.stringify(e.id)}:{"revision":${e.revision},"value":${e.text}}`);
      collections.push(`${JSON.stringify(collection)}:{${members.join(',')}}`);
    }
    const tmp = join(this.root, `.${SNAPSHOT}.tmp`);
    writeFileSync(tmp, `{"format":${FORMAT},"seq":${held.seq},"values":{${collections.join(',')}}}\n`, { mode: 0o600 });
    renameSync(tmp, join(this.root, SNAPSHOT));
    // Cut here, the journal's lines are all in the snapshot (their seq is not above its): none is replayed.
    journal.truncate();
  }

  /** What the store holds, read once: the snapshot (or an earlier release's files), then the journal's lines after it. */
  private load(): Held {
    if (this.held) return this.held;
    const held: Held = { values: new Map(), seq: 0, count: 0 };
    const snapshot = readOptional(join(this.root, SNAPSHOT));
    if (snapshot !== undefined) this.readSnapshot(held, snapshot);
    else this.readLegacyFiles(held);
    const journal = readOptional(join(this.root, JOURNAL));
    if (journal !== undefined) this.replay(held, journal);
    this.held = held;
    return held;
  }

  private readSnapshot(held: Held, text: string): void {
    const path = join(this.root, SNAPSHOT);
    const parsed = this.parse(path, text) as { format?: unknown; seq?: unknown; values?: unknown };
    if (parsed.format !== FORMAT || typeof parsed.seq !== 'number' || typeof parsed.values !== 'object' || parsed.values === null) {
      throw unreadable(path, `not a berth store snapshot of format ${FORMAT}`);
    }
    held.seq = parsed.seq;
    for (const [collection, values] of Object.entries(parsed.values as Record<string, Record<string, { revision: number; value: unknown }>>)) {
      for (const [id, { revision, value }] of Object.entries(values)) apply(held, collection as Collection, { id, revision, text: JSON.stringify(value) });
    }
  }

  /** Applies the journal's lines after the snapshot; a last line without its newline (a crash mid-append) is not one. */
  private replay(held: Held, text: string): void {
    const path = join(this.root, JOURNAL);
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a line cut short
    for (const [index, line] of lines.entries()) {
      const parsed = this.parse(`${path} line ${index + 1}`, line) as JournalLine;
      if (typeof parsed.s !== 'number' || typeof parsed.c !== 'string' || typeof parsed.id !== 'string' || typeof parsed.r !== 'number') {
        throw unreadable(`${path} line ${index + 1}`, 'not a berth store journal line');
      }
      if (parsed.s <= held.seq) continue;
      held.seq = parsed.s;
      apply(held, parsed.c as Collection, { id: parsed.id, revision: parsed.r, text: parsed.r === 0 ? '' : JSON.stringify(parsed.v) });
    }
  }

  /**
   * An earlier release's store: `<collection>/<id>.json`, each holding `{ "revision": n,
   * "value": ... }`, or the bare value for files written before revisions existed (revision 1).
   */
  private readLegacyFiles(held: Held): void {
    let dirs: string[];
    try {
      dirs = readdirSync(this.root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const dir of dirs) {
      for (const name of readdirSync(join(this.root, dir)).filter((n) => n.endsWith('.json'))) {
        const path = join(this.root, dir, name);
        const parsed = this.parse(path, readFileSync(path, 'utf8'));
        const envelope = isEnvelope(parsed) ? parsed : { revision: 1, value: parsed };
        apply(held, dir as Collection, { id: name.slice(0, -'.json'.length), revision: envelope.revision, text: JSON.stringify(envelope.value) });
      }
    }
  }

  private parse(where: string, text: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw unreadable(where, (err as Error).message, err);
    }
  }
}

/** Lines the journal may hold beyond the number of values before it is folded into a new snapshot. */
const COMPACT_EVERY = 10_000;
const SNAPSHOT = 'snapshot.json';
const JOURNAL = 'journal';
const FORMAT = 1;

/** One value as held: its JSON text (each read parses its own copy, as a file read did). */
interface Entry {
  readonly id: string;
  readonly revision: number;
  readonly text: string;
}

interface Held {
  readonly values: Map<Collection, Map<string, Entry>>;
  /** The sequence number of the last write held. */
  seq: number;
  /** How many values are held, across collections. */
  count: number;
}

interface JournalLine {
  readonly s?: unknown;
  readonly c?: unknown;
  readonly id?: unknown;
  readonly r?: unknown;
  readonly v?: unknown;
}

/** The journal's file, open for appending by this process (its only writer). */
class Journal {
  private readonly fd: number;
  private size: number;
  lines = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  /** One write call; one that fails part-way is cut back, so the next line starts clean. */
  append(line: string): void {
    const bytes = Buffer.from(line);
    try {
      const written = writeSync(this.fd, bytes);
      if (written !== bytes.length) throw new Error(`wrote ${written} of ${bytes.length} bytes`);
    } catch (err) {
      ftruncateSync(this.fd, this.size);
      throw new BerthError('internal', `cannot write berth's store journal: ${(err as Error).message}`, 'check the data root: is its disk full or read-only?', { cause: err });
    }
    this.size += bytes.length;
  }

  truncate(): void {
    ftruncateSync(this.fd, 0);
    this.size = 0;
    this.lines = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function apply(held: Held, collection: Collection, entry: Entry): void {
  let values = held.values.get(collection);
  if (!values) held.values.set(collection, (values = new Map<string, Entry>()));
  const had = values.has(entry.id);
  if (entry.revision === 0) {
    if (had) held.count--;
    values.delete(entry.id);
  } else {
    if (!had) held.count++;
    values.set(entry.id, entry);
  }
}

function stored(entry: Entry): StoredValue {
  return { id: entry.id, value: JSON.parse(entry.text) as unknown, revision: entry.revision };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function unreadable(where: string, why: string, cause?: unknown): BerthError {
  return new BerthError('internal', `berth's store at ${where} is unreadable: ${why}`, 'move the store directory away and restart the daemon; reconcile removes what it described', { cause });
}

function isEnvelope(v: unknown): v is { revision: number; value: unknown } {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && typeof (v as { revision?: unknown }).revision === 'number' && 'value' in v;
}
