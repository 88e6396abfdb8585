import { InvalidArgumentError } from '../../common/errors.js';
import type { KernelFeatures } from '../../kernel/features.js';
import { IPVLAN_FLAGS, IPVLAN_MODES, type IpvlanFlag, type IpvlanMode, type KernelOp, type Plan } from '../../kernel/ops.js';
import type { HostLinkPresence, KernelView } from '../../kernel/view.js';
import { checkKnownOptions, dataOneOf, oneOfOption } from '../data.js';
import {
  type EndpointPath,
  subnetHolding,
  type DriverAvailability,
  type DriverCapabilities,
  type DriverConfig,
  type DriverCreateContext,
  type DriverData,
  type DriverEndpoint,
  type DriverNetwork,
  type EndpointNames,
  type EndpointRequest,
  type JoinResult,
  type NetworkDriver,
  type RecordedEndpoint,
} from '../driver.js';
import { createParentPlan, deleteParentPlan, PARENT_OPTION, parentData, parentOf, removeExternalLink, repairOnParent, resolveParent, type ParentLink } from '../parent.js';

interface IpvlanOptions extends ParentLink {
  readonly mode: IpvlanMode;
  readonly flag: IpvlanFlag;
}

const IPVLAN_MODE_OPTION = 'ipvlan_mode';
const IPVLAN_FLAG_OPTION = 'ipvlan_flag';

/**
 * The ipvlan driver, as Docker's: endpoints are ipvlan links on the parent, sharing its
 * MAC. l2 mode behaves as macvlan on the LAN (a gateway, ARP); l3 and l3s route instead:
 * no gateway, the default route goes straight out of the device, and the parent routes
 * between the network's endpoints.
 */
export class IpvlanDriver implements NetworkDriver {
  readonly name = 'ipvlan';
  readonly capabilities: DriverCapabilities = { scope: 'local', publishesPorts: false, embeddedDns: true, needsParent: true, userCreatable: true, multipleSubnets: true, routesOut: true };

  constructor(private readonly features: KernelFeatures) {}

  probe(features: KernelFeatures): DriverAvailability {
    return features.linkKinds.has('ipvlan') ? { available: true } : { available: false, reason: 'this kernel lacks ipvlan support (CONFIG_IPVLAN)' };
  }

  validateOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): DriverConfig {
    checkKnownOptions('ipvlan', raw, [PARENT_OPTION, IPVLAN_MODE_OPTION, IPVLAN_FLAG_OPTION]);
    const mode = oneOfOption(raw, IPVLAN_MODE_OPTION, IPVLAN_MODES, 'l2');
    const flag = oneOfOption(raw, IPVLAN_FLAG_OPTION, IPVLAN_FLAGS, 'bridge');
    const options: IpvlanOptions = { ...resolveParent('ipvlan', raw, ctx, this.features), mode, flag };
    const data: DriverData = { ...parentData(options), mode, flag };
    // l3: the parent routes; there is no gateway on the network to point at (Docker ignores --gateway).
    return { data, withoutGateway: mode !== 'l2' };
  }

  createNetwork(network: DriverNetwork): Plan {
    return createParentPlan(network.id, optionsOf(network.data));
  }

  deleteNetwork(network: DriverNetwork, live: HostLinkPresence): Plan {
    return deleteParentPlan(optionsOf(network.data), live);
  }

  createEndpoint(_network: DriverNetwork, request: EndpointRequest): EndpointNames {
    if (request.mac !== undefined) {
      throw new InvalidArgumentError('an ipvlan endpoint cannot have its own MAC address (--mac-address)', 'ipvlan links share the MAC of their parent; use a macvlan network for distinct MACs');
    }
    return { ifname: request.ifname };
  }

  join(network: DriverNetwork, netns: string, endpoint: DriverEndpoint): JoinResult {
    const options = optionsOf(network.data);
    const plan: KernelOp[] = [
      { kind: 'ipvlan-add', name: endpoint.ifname, parent: options.parent, mode: options.mode, flag: options.flag, netns },
      { kind: 'addr-add', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` },
      { kind: 'link-up', netns, dev: endpoint.ifname },
    ];
    if (network.internal) return { plan, info: {} };
    const { gateway } = subnetHolding(network.subnets, endpoint.address);
    if (options.mode === 'l2') return { plan, info: gateway === undefined ? {} : { defaultRoute: { via: gateway } } };
    return { plan, info: { defaultRoute: { dev: endpoint.ifname } } };
  }

  joinExternal(network: DriverNetwork, endpoint: DriverEndpoint): JoinResult {
    const options = optionsOf(network.data);
    const plan: KernelOp[] = [{ kind: 'ipvlan-add', name: endpoint.ifname, parent: options.parent, mode: options.mode, flag: options.flag }];
    return { plan, info: this.join(network, '', endpoint).info };
  }

  removeExternal(_network: DriverNetwork, endpoint: DriverEndpoint, live: HostLinkPresence): Plan {
    return removeExternalLink(endpoint, live);
  }

  leave(_network: DriverNetwork, netns: string, endpoint: DriverEndpoint, opts: { readonly sandboxGoing: boolean }): Plan {
    // ipvlan keys its endpoints by address on the parent: with the namespace going (torn
    // down asynchronously), the address is removed now so the next endpoint may take it.
    if (opts.sandboxGoing) return [{ kind: 'addr-del', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` }];
    return [{ kind: 'link-del', netns, dev: endpoint.ifname }];
  }

  pathOf(network: DriverNetwork): EndpointPath {
    const { parent, mode, flag } = optionsOf(network.data);
    // ipvlan switches between its children in every mode, unless a flag keeps them apart (private, vepa).
    return { kind: 'lan', parent, mode: `${mode} ${flag}`, siblingsMeet: flag === 'bridge' };
  }

  repair(network: DriverNetwork, endpoints: readonly RecordedEndpoint[], live: KernelView): Plan {
    return repairOnParent(this, network, optionsOf(network.data), endpoints, live);
  }
}

function optionsOf(data: DriverData): IpvlanOptions {
  return { ...parentOf('ipvlan', data), mode: dataOneOf('ipvlan', data, 'mode', IPVLAN_MODES), flag: dataOneOf('ipvlan', data, 'flag', IPVLAN_FLAGS) };
}
