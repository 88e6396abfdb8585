import { randomHex } from './random-hex.js';

/** A 64-hex-digit id, the shape Docker uses for containers, networks and endpoints. */
export function newId(): string {
  return randomHex(64);
}

/** The 12-digit short form that `ps`, `network ls` and names derived from ids use. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
