import { InvalidArgumentError, MissingFeatureError, quotePrefix } from '../common/errors.js';
import type { KernelFeatures } from '../kernel/features.js';
import { BridgeDriver } from './bridge/driver.js';
import { builtInOnly, hostDriver, nullDriver } from './builtin.js';
import type { DriverAvailability, NetworkDriver } from './driver.js';
import { IpvlanDriver } from './ipvlan/driver.js';
import { MacvlanDriver } from './macvlan/driver.js';
import { OverlayDriver } from './overlay/driver.js';

export interface DriverEntry {
  readonly driver: NetworkDriver;
  readonly availability: DriverAvailability;
}

/**
 * The drivers this daemon has, each with whether this kernel supports it (probed once at
 * start). A driver the kernel cannot run stays listed, with the reason, so `network
 * create -d` can say why instead of "unknown driver".
 */
export class DriverRegistry {
  private readonly entries: ReadonlyMap<string, DriverEntry>;

  constructor(drivers: readonly NetworkDriver[], features: KernelFeatures) {
    this.entries = new Map(drivers.map((driver) => [driver.name, { driver, availability: driver.probe(features) }]));
  }

  /** The driver of an existing network (its availability was checked when the network was made). */
  get(name: string): NetworkDriver {
    const entry = this.entries.get(name);
    if (!entry) throw new InvalidArgumentError(`unknown network driver "${quotePrefix(name)}"`, `accepted drivers: ${this.creatable().join(', ')}`);
    return entry.driver;
  }

  /**
   * The driver for a new network: it must exist, be one users create networks of, and run
   * on this kernel (unless only planning: a plan can be shown where it cannot be applied).
   */
  forCreate(name: string, opts: { readonly planOnly?: boolean } = {}): NetworkDriver {
    if (name === 'none' || this.entries.get(name)?.driver.capabilities.userCreatable === false) throw builtInOnly(name);
    const driver = this.get(name);
    const entry = this.entries.get(name)!;
    if (!entry.availability.available && opts.planOnly !== true) {
      throw new MissingFeatureError(`cannot create a network of driver ${name}: ${entry.availability.reason}`, `drivers available on this host: ${this.creatable().join(', ')}`);
    }
    return driver;
  }

  availability(name: string): DriverAvailability {
    return this.entries.get(name)?.availability ?? { available: false, reason: `no driver named ${name}` };
  }

  /** Every driver with its availability, for the daemon's start-up line and the docs. */
  list(): readonly DriverEntry[] {
    return [...this.entries.values()];
  }

  private creatable(): string[] {
    return this.list()
      .filter((e) => e.driver.capabilities.userCreatable && e.availability.available)
      .map((e) => e.driver.name);
  }
}

/** The drivers this build of berth has. */
export function builtinDrivers(features: KernelFeatures, cluster: { readonly vtep?: string; readonly underlayMtu?: number } = {}): DriverRegistry {
  return new DriverRegistry([new BridgeDriver(), new MacvlanDriver(features), new IpvlanDriver(features), new OverlayDriver(features, cluster.vtep, cluster.underlayMtu), hostDriver(), nullDriver()], features);
}
