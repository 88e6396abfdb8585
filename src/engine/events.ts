import { EventEmitter } from 'node:events';

/** One thing that happened, in Docker's event terms: what (container, network), which action, to whom. */
export interface EngineEvent {
  readonly type: 'container' | 'network' | 'daemon';
  /** Docker's action names: create, start, die, stop, kill, destroy, rename, restart, connect, disconnect; berth's daemon: repair. */
  readonly action: string;
  /** The container's or network's id. */
  readonly id: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch. */
  readonly timeNano: bigint;
}

/** How many past events `events --since` can reach back to (dockerd keeps 256). */
const KEPT = 1000;

/**
 * The engine's event log: what compose and monitoring tools watch (`docker events`). Recent
 * events are kept for `since`; listeners get every new one as it happens.
 */
export class EventLog {
  private readonly recent: EngineEvent[] = [];
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  record(type: EngineEvent['type'], action: string, id: string, attributes: Readonly<Record<string, string>>): void {
    const event: EngineEvent = { type, action, id, attributes, timeNano: BigInt(Date.now()) * 1_000_000n };
    this.recent.push(event);
    if (this.recent.length > KEPT) this.recent.shift();
    this.emitter.emit('event', event);
  }

  /** The kept events at or after `sinceNano`. */
  since(sinceNano: bigint): EngineEvent[] {
    return this.recent.filter((e) => e.timeNano >= sinceNano);
  }

  /** Calls `listener` for each new event until the returned function is called. */
  subscribe(listener: (event: EngineEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
