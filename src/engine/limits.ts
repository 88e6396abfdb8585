import { InvalidArgumentError } from '../common/errors.js';

/**
 * Caps on what one container may ask for, each refused with an error naming it. Docker
 * has none of these; they keep one request from costing the daemon without bound (an
 * alias is a name index entry, a port a map element, a network an interface), and sit
 * well above real use: compose files carry a few aliases, the largest published range
 * the benches use has 10,000 ports, and Linux names at most a few dozen interfaces per
 * container usefully.
 */
export const MAX_ALIASES_PER_NETWORK = 64;
export const MAX_PUBLISHED_PORTS = 16_384;
export const MAX_NETWORKS_PER_CONTAINER = 32;

export function checkAliasCount(count: number): void {
  if (count > MAX_ALIASES_PER_NETWORK) {
    throw new InvalidArgumentError(`too many network aliases: ${count}, the cap is ${MAX_ALIASES_PER_NETWORK} per network`, 'aliases name one container on one network; use fewer');
  }
}

export function checkPublishedPortCount(count: number): void {
  if (count > MAX_PUBLISHED_PORTS) {
    throw new InvalidArgumentError(`too many published ports: ${count}, the cap is ${MAX_PUBLISHED_PORTS} per container`, 'publish a smaller range');
  }
}

export function checkNetworkCount(count: number, container: string): void {
  if (count > MAX_NETWORKS_PER_CONTAINER) {
    throw new InvalidArgumentError(`container ${container} would be on ${count} networks, the cap is ${MAX_NETWORKS_PER_CONTAINER}`, 'disconnect it from one first');
  }
}
