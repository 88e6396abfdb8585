import { BridgeDriver } from './bridge.js';
import type { NetworkDriver } from './driver.js';

/** The drivers this build of berth has, by type name. */
export function builtinDrivers(): ReadonlyMap<string, NetworkDriver> {
  const bridge = new BridgeDriver();
  return new Map<string, NetworkDriver>([[bridge.type, bridge]]);
}
