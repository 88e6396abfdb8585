import { randomBytes } from 'node:crypto';

/**
 * Random hex digits for names and ids (not secrets), cut from one pool of the system's
 * generator refilled POOL_BYTES at a time. Each `randomBytes` call is a trip into OpenSSL's
 * generator: 4 µs in a quiet loop here, ~30 µs inside a burst of starts, and a start asks for
 * three (the container's id, its endpoint's, its veth's name): 1.6% of the daemon's thread
 * while 1,000 containers started. A secret (the web page's token) still takes its own bytes.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

/** `digits` random hex digits. */
export function randomHex(digits: number): string {
  const bytes = Math.ceil(digits / 2);
  if (used + bytes > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, bytes));
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
  used += bytes;
  return hex.length === digits ? hex : hex.slice(0, digits);
}
