/**
 * Encoded answers to queries the name index answered, per listener (one container's
 * socket), keyed by the query's bytes after its id: the same question with the same flags
 * gets the same bytes back, with the query's id written in. The engine bumps a generation
 * number whenever names change; an answer computed under an older generation is never
 * stored, and a newer generation empties the cache before anything is looked up.
 * Forwarded answers are never stored here: they keep their upstream's timing and TTLs.
 */
export type CachedAnswer = Uint8Array | null;

/** Distinct queries remembered per listener; a listener asking more starts over (random names are not worth keeping). */
const MAX_PER_LISTENER = 512;

export class AnswerCache {
  private readonly byListener = new Map<number, Map<string, CachedAnswer>>();

  constructor(private generation: number) {}

  /** Empties the cache when the names moved on to `generation`. */
  sync(generation: number): void {
    if (generation === this.generation) return;
    this.generation = generation;
    this.byListener.clear();
  }

  /** The stored answer (null: the query gets no answer at all), or undefined when none is stored. */
  lookup(listener: number, key: string): CachedAnswer | undefined {
    return this.byListener.get(listener)?.get(key);
  }

  /** Stores an answer computed under `generation`, unless the names have changed since. */
  store(listener: number, key: string, answer: CachedAnswer, generation: number): void {
    if (generation !== this.generation) return;
    let answers = this.byListener.get(listener);
    if (!answers || answers.size >= MAX_PER_LISTENER) {
      answers = new Map();
      this.byListener.set(listener, answers);
    }
    answers.set(key, answer);
  }

  forget(listener: number): void {
    this.byListener.delete(listener);
  }
}

/** The cache key of a query: its bytes after the 2-byte id, as a string (a Map key compares by value). */
export function answerKey(query: Uint8Array): string {
  return Buffer.from(query.buffer, query.byteOffset + 2, query.length - 2).toString('latin1');
}
