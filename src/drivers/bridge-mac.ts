import { createHash } from 'node:crypto';
import { macText } from './driver.js';

/**
 * The MAC of a bridge berth creates, fixed at creation as dockerd fixes its bridges': a
 * bridge created without one takes the lowest MAC among its ports, so the gateway's MAC
 * changed whenever a container with a lower one came or went (and read 00:00:00:00:00:00
 * once the last left), leaving the containers' neighbour entries for the gateway pointing
 * at a MAC nobody answered for until they expired. It is derived from `seed` (the network's
 * id, with what else tells this bridge from its namesakes elsewhere), not drawn at random,
 * so a bridge re-created by drift repair comes back with the MAC its containers know.
 * Unicast and locally administered. The kernel also skips, for a bridge whose MAC was set,
 * a walk over every port each time one is added (br_stp_recalculate_bridge_id).
 */
export function bridgeMac(seed: string): string {
  const bytes = createHash('sha256').update(`berth bridge ${seed}`).digest().subarray(0, 6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return macText([...bytes]);
}
