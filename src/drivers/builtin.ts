import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { Plan } from '../kernel/ops.js';
import type { DriverAvailability, DriverCapabilities, DriverConfig, DriverNetwork, EndpointNames, JoinResult, NetworkDriver } from './driver.js';

/**
 * The drivers of the built-in `host` and `none` networks (Docker names none's driver
 * "null"). They own no kernel objects and no endpoints: a container "on" them shares the
 * host's stack or has a namespace with lo only, which the engine's modes arrange. Users
 * cannot make more networks of them.
 */
class BuiltinOnlyDriver implements NetworkDriver {
  readonly capabilities: DriverCapabilities = { scope: 'local', publishesPorts: false, embeddedDns: false, needsParent: false, userCreatable: false, multipleSubnets: false, routesOut: false };

  constructor(
    readonly name: 'host' | 'null',
    private readonly network: 'host' | 'none',
  ) {}

  probe(): DriverAvailability {
    return { available: true };
  }

  validateOptions(): DriverConfig {
    throw builtInOnly(this.name);
  }

  createNetwork(): Plan {
    return [];
  }

  deleteNetwork(): Plan {
    return [];
  }

  createEndpoint(network: DriverNetwork): EndpointNames {
    throw new InvalidArgumentError(`network ${network.name} cannot be attached to: it is the built-in ${network.name} network`, `use --network ${this.network} when running a container`);
  }

  join(network: DriverNetwork): JoinResult {
    throw new InvalidArgumentError(`network ${network.name} cannot be joined: it is the built-in ${network.name} network`);
  }

  leave(): Plan {
    return [];
  }

  repair(): Plan {
    return [];
  }
}

/** The refusal of a second network of a built-in driver (`none` is Docker's other name for null). */
export function builtInOnly(driver: string): InvalidArgumentError {
  return new InvalidArgumentError(`only one instance of the "${quotePrefix(driver)}" network is allowed: it is built in`, 'use --network host or --network none when running a container');
}

export const hostDriver = (): NetworkDriver => new BuiltinOnlyDriver('host', 'host');
export const nullDriver = (): NetworkDriver => new BuiltinOnlyDriver('null', 'none');
