import { InvalidArgumentError, quotePrefix } from '../common/errors.js';

/**
 * Docker's `filters` query parameter: JSON mapping a filter name to its values, in the
 * current map form (`{"label":{"k=v":true}}`) or the old list form (`{"label":["k=v"]}`).
 * Several values of one name match if any matches; several names must all match (Docker's
 * api/types/filters semantics).
 */
export type Filters = ReadonlyMap<string, readonly string[]>;

export const NO_FILTERS: Filters = new Map();

/** Parses `filters` and refuses names outside `accepted` with Docker's `invalid filter 'x'`. */
export function parseFilters(raw: string | null, accepted: readonly string[]): Filters {
  if (raw === null || raw.trim() === '') return NO_FILTERS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError(`invalid filters "${quotePrefix(raw)}": not JSON`, 'e.g. filters={"label":{"env=prod":true}}');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('invalid filters: give a JSON object of filter names', 'e.g. filters={"label":{"env=prod":true}}');
  }
  const filters = new Map<string, string[]>();
  for (const [name, values] of Object.entries(parsed as Record<string, unknown>)) {
    if (!accepted.includes(name)) throw new InvalidArgumentError(`invalid filter '${quotePrefix(name)}'`, `accepted filters: ${accepted.join(', ')}`);
    filters.set(name, filterValues(name, values));
  }
  return filters;
}

function filterValues(name: string, values: unknown): string[] {
  if (Array.isArray(values) && values.every((v) => typeof v === 'string')) return values;
  if (typeof values === 'object' && values !== null && !Array.isArray(values)) {
    const entries = Object.entries(values as Record<string, unknown>);
    if (entries.every(([, on]) => typeof on === 'boolean')) return entries.filter(([, on]) => on).map(([v]) => v);
  }
  throw new InvalidArgumentError(`invalid filter '${quotePrefix(name)}': give its values as {"value":true} or ["value"]`);
}

/** Whether `filters` says nothing against `subject` for `name`: no values, or any value matches. */
export function anyValue(filters: Filters, name: string, matches: (value: string) => boolean): boolean {
  const values = filters.get(name);
  return values === undefined || values.length === 0 || values.some(matches);
}

/**
 * `label=key` (the label exists) or `label=key=value`; with `label!`, the negation: the
 * subject has none of the labels named.
 */
export function matchesLabels(filters: Filters, labels: Readonly<Record<string, string>>): boolean {
  const has = (spec: string): boolean => {
    const eq = spec.indexOf('=');
    if (eq === -1) return Object.hasOwn(labels, spec);
    const key = spec.slice(0, eq);
    return Object.hasOwn(labels, key) && labels[key] === spec.slice(eq + 1);
  };
  const required = filters.get('label') ?? [];
  const refused = filters.get('label!') ?? [];
  return required.every(has) && !refused.some(has);
}

/**
 * Docker matches name and id filters as regular expressions found anywhere in the value
 * (`name=web` matches "my-web-1"); a value that is no valid expression is a literal.
 */
export function matchesPattern(pattern: string, value: string): boolean {
  try {
    return new RegExp(pattern).test(value);
  } catch {
    return value.includes(pattern);
  }
}

/** A boolean filter value as Docker takes it: true/1 or false/0. */
export function booleanFilter(name: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidArgumentError(`invalid filter '${name}=${quotePrefix(value)}'`, `${name} takes true or false`);
}

/**
 * `until`: a Unix timestamp (seconds, maybe fractional), an RFC 3339 date, or a duration
 * before now (`24h`, `90m`, `1h30m`, `10s`); returns the cut-off in epoch milliseconds.
 */
export function untilCutoffMs(value: string, nowMs = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const duration = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(value);
  if (duration && value !== '') {
    const [, h = '0', m = '0', s = '0'] = duration;
    return nowMs - ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000;
  }
  const date = Date.parse(value);
  if (!Number.isNaN(date) && /^\d{4}-\d{2}-\d{2}/.test(value)) return date;
  throw new InvalidArgumentError(`invalid filter 'until=${quotePrefix(value)}'`, 'give a Unix timestamp, a date such as 2026-12-01T10:00:00Z, or a duration such as 24h');
}
