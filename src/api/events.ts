import type { Writable } from 'node:stream';
import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { EngineEvent, EventLog } from '../engine/events.js';
import { anyValue, matchesPattern, untilCutoffMs, type Filters } from './filters.js';

/** The filters `docker events` takes that berth's events can carry. */
export const EVENT_FILTERS = ['type', 'event', 'container', 'network', 'label'] as const;

/** Docker's event message (api/types/events.Message), with its legacy status/id/from. */
export function eventView(e: EngineEvent) {
  const seconds = Number(e.timeNano / 1_000_000_000n);
  return {
    ...(e.type === 'container' ? { status: e.action, id: e.id, from: e.attributes.image ?? '' } : {}),
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: seconds,
    timeNano: Number(e.timeNano),
  };
}

/** Whether an event passes the filters: container and network match a name or an id (prefix), as Docker's do. */
export function eventFilter(filters: Filters): (e: EngineEvent) => boolean {
  const names = (e: EngineEvent) => [e.id, e.attributes.name ?? ''];
  const refers = (value: string, e: EngineEvent) => names(e).some((n) => n === value || (n.length === 64 && n.startsWith(value)) || matchesPattern(`^${value}$`, n));
  return (e) =>
    anyValue(filters, 'type', (v) => v === e.type) &&
    anyValue(filters, 'event', (v) => v === e.action) &&
    anyValue(filters, 'container', (v) => (e.type === 'container' ? refers(v, e) : e.attributes.container !== undefined && e.attributes.container.startsWith(v))) &&
    anyValue(filters, 'network', (v) => e.type === 'network' && refers(v, e)) &&
    anyValue(filters, 'label', (v) => {
      const [key, value] = v.split('=', 2);
      return key !== undefined && e.attributes[key] !== undefined && (value === undefined || e.attributes[key] === value);
    });
}

/** `since`/`until` as Docker takes them: Unix seconds (fractional), an RFC 3339 date, or a duration before now. */
export function eventTime(name: 'since' | 'until', value: string | null): bigint | undefined {
  if (value === null || value === '') return undefined;
  try {
    return BigInt(Math.round(untilCutoffMs(value))) * 1_000_000n;
  } catch {
    throw new InvalidArgumentError(`invalid ${name} "${quotePrefix(value)}"`, 'give Unix seconds, a date such as 2026-12-01T10:00:00Z, or a duration such as 10m');
  }
}

/**
 * Writes the kept events since `since` and then each new one, as JSON lines, until `until`
 * (immediately when it is past) or until the client goes.
 */
export async function streamEvents(out: Writable, log: EventLog, matches: (e: EngineEvent) => boolean, since: bigint | undefined, until: bigint | undefined): Promise<void> {
  const nowNano = BigInt(Date.now()) * 1_000_000n;
  const write = (e: EngineEvent) => {
    if ((until === undefined || e.timeNano <= until) && matches(e)) out.write(`${JSON.stringify(eventView(e))}\n`);
  };
  // Replay and subscription in one synchronous step: no event can fall between them, or come twice.
  if (since !== undefined) for (const e of log.since(since)) write(e);
  if (until !== undefined && until <= nowNano) return;
  const unsubscribe = log.subscribe(write);
  try {
    await new Promise<void>((resolve) => {
      out.once('close', resolve);
      if (until !== undefined) setTimeout(resolve, Number((until - nowNano) / 1_000_000n)).unref();
    });
  } finally {
    unsubscribe();
  }
}
