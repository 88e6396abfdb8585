import { BerthError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { DriverData } from './driver.js';

/**
 * Reading driver data back from a network record (it came from the store: data entering
 * the program) and checking `-o` options against the list a driver accepts.
 */
function malformed(driver: string, key: string, data: DriverData): never {
  throw new BerthError('internal', `store holds malformed ${driver} driver data (field "${key}"): ${JSON.stringify(data).slice(0, 200)}`);
}

export function dataString(driver: string, data: DriverData, key: string): string {
  const value = data[key];
  if (typeof value !== 'string') malformed(driver, key, data);
  return value;
}

export function dataOptionalString(driver: string, data: DriverData, key: string): string | undefined {
  const value = data[key];
  if (value !== undefined && typeof value !== 'string') malformed(driver, key, data);
  return value;
}

export function dataNumber(driver: string, data: DriverData, key: string): number {
  const value = data[key];
  if (typeof value !== 'number') malformed(driver, key, data);
  return value;
}

export function dataOptionalNumber(driver: string, data: DriverData, key: string): number | undefined {
  const value = data[key];
  if (value !== undefined && typeof value !== 'number') malformed(driver, key, data);
  return value;
}

export function dataOneOf<T extends string>(driver: string, data: DriverData, key: string, allowed: readonly T[]): T {
  const value = data[key];
  const found = allowed.find((a) => a === value);
  if (found === undefined) malformed(driver, key, data);
  return found;
}

/** Refuses any option outside `accepted`, naming it and listing the accepted ones. */
export function checkKnownOptions(driver: string, raw: Readonly<Record<string, string>>, accepted: readonly string[]): void {
  const unknown = Object.keys(raw).find((k) => !accepted.includes(k));
  if (unknown !== undefined) {
    throw new InvalidArgumentError(`unknown ${driver} driver option "${quotePrefix(unknown)}"`, accepted.length > 0 ? `accepted options: ${accepted.join(', ')}` : `the ${driver} driver takes no options`);
  }
}

/** An option that must be one of `allowed` (the default when absent). */
export function oneOfOption<T extends string>(raw: Readonly<Record<string, string>>, key: string, allowed: readonly T[], fallback: T): T {
  const given = raw[key];
  if (given === undefined) return fallback;
  const found = allowed.find((a) => a === given);
  if (found === undefined) throw new InvalidArgumentError(`invalid ${key} "${quotePrefix(given)}"`, `accepted values: ${allowed.join(', ')}`);
  return found;
}

/** A boolean option as Docker spells them: true/false, 1/0. */
export function booleanOption(raw: Readonly<Record<string, string>>, key: string): boolean {
  const given = raw[key];
  if (given === undefined) return false;
  if (given === 'true' || given === '1') return true;
  if (given === 'false' || given === '0') return false;
  throw new InvalidArgumentError(`invalid ${key} "${quotePrefix(given)}"`, 'accepted values: true, false');
}

// A Linux link name: 1-15 bytes (IFNAMSIZ), no "/", ":" or whitespace; berth keeps to [a-zA-Z0-9_.-].
export const VALID_LINK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
