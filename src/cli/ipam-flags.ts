import { InvalidArgumentError } from '../common/errors.js';
import { cidrContains, cidrsOverlap, parseCidr, parseIpv4 } from '../common/ipv4.js';

/** One entry of Docker's IPAM.Config, as `network create` sends it. */
export interface IpamConfigBody {
  Subnet?: string;
  Gateway?: string;
  IPRange?: string;
  AuxiliaryAddresses: Record<string, string>;
}

export interface IpamFlags {
  readonly subnets: readonly string[];
  readonly gateways: readonly string[];
  readonly ipRanges: readonly string[];
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/**
 * `--subnet`, `--gateway`, `--ip-range` and `--aux-address` as IPAM configs. With one
 * subnet or none, the flags form one config and the daemon checks it (its errors name the
 * subnet). With several, each other flag goes to the subnet that contains it, as Docker's
 * CLI does: which subnet a gateway belongs to is a matter of addresses, not of flag order.
 */
export function ipamConfigsOf(flags: IpamFlags): IpamConfigBody[] {
  if (flags.subnets.length <= 1) {
    const single = {
      Subnet: flags.subnets[0],
      Gateway: atMostOne(flags.gateways, 'gateway'),
      IPRange: atMostOne(flags.ipRanges, 'ip-range'),
      AuxiliaryAddresses: { ...flags.auxAddresses },
    };
    const given = single.Subnet !== undefined || single.Gateway !== undefined || single.IPRange !== undefined || Object.keys(single.AuxiliaryAddresses).length > 0;
    return given ? [single] : [];
  }
  const configs = flags.subnets.map((subnet): IpamConfigBody & { cidr: ReturnType<typeof parseCidr> } => ({ Subnet: subnet, cidr: parseCidr(subnet), AuxiliaryAddresses: {} }));
  configs.forEach((a, i) => {
    const b = configs.slice(0, i).find((other) => cidrsOverlap(other.cidr, a.cidr));
    if (b) throw new InvalidArgumentError(`subnets ${b.Subnet} and ${a.Subnet} overlap`, 'the subnets of one network must be disjoint');
  });
  const holder = (address: string, flag: string) => {
    const ip = flag === 'ip-range' ? parseCidr(address).network : parseIpv4(address);
    const found = configs.find((c) => cidrContains(c.cidr, ip));
    if (!found) throw new InvalidArgumentError(`no matching subnet for --${flag} ${address}`, `it must lie in one of ${flags.subnets.join(', ')}`);
    return found;
  };
  for (const gateway of flags.gateways) {
    const c = holder(gateway, 'gateway');
    if (c.Gateway !== undefined) throw new InvalidArgumentError(`cannot configure two gateways (${c.Gateway}, ${gateway}) for subnet ${c.Subnet}`);
    c.Gateway = gateway;
  }
  for (const range of flags.ipRanges) {
    const c = holder(range, 'ip-range');
    if (c.IPRange !== undefined) throw new InvalidArgumentError(`cannot configure two ranges (${c.IPRange}, ${range}) on subnet ${c.Subnet}`);
    c.IPRange = range;
  }
  for (const [name, address] of Object.entries(flags.auxAddresses)) holder(address, 'aux-address').AuxiliaryAddresses[name] = address;
  return configs.map(({ cidr: _cidr, ...body }) => body);
}

function atMostOne(values: readonly string[], name: string): string | undefined {
  if (values.length > 1) throw new InvalidArgumentError(`--${name} given ${values.length} times for one subnet`, 'give --subnet for each further subnet');
  return values[0];
}
