import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { formatIpv4, parseIpv4 } from '../common/ipv4.js';
import type { ResolvConf } from '../dns/resolvconf.js';
import type { ContainerTable } from './containers.js';
import type { ContainerLink, HostEntry } from './model.js';

/**
 * The name options of `run`, checked where they enter: `--dns`, `--dns-search`,
 * `--dns-opt`, `--add-host` and `--link`, with Docker's forms and clear errors.
 */

/** `--add-host NAME:host-gateway` names the default bridge's gateway, as in Docker. */
export const HOST_GATEWAY = 'host-gateway';

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,62}))*$/;
const DNS_OPTION = /^[a-z][a-z0-9-]*(:\d+)?$/i;

export function checkedDnsSettings(given: ResolvConf): ResolvConf {
  const nameservers = given.nameservers.map((ns) => {
    try {
      return formatIpv4(parseIpv4(ns));
    } catch {
      throw new InvalidArgumentError(`invalid --dns "${quotePrefix(ns)}": not an IPv4 address`, 'e.g. --dns 192.0.2.53');
    }
  });
  for (const domain of given.search) {
    if (domain !== '.' && !HOSTNAME.test(domain.replace(/\.$/, ''))) throw new InvalidArgumentError(`invalid --dns-search "${quotePrefix(domain)}"`, 'a domain name, e.g. --dns-search corp.example');
  }
  for (const option of given.options) {
    if (!DNS_OPTION.test(option)) throw new InvalidArgumentError(`invalid --dns-opt "${quotePrefix(option)}"`, 'a resolv.conf option, e.g. ndots:2 or edns0');
  }
  // "." means "no search domains" in Docker: it clears the host's list.
  return { nameservers, search: given.search.filter((d) => d !== '.'), options: [...given.options] };
}

/** `NAME:IP` (or Docker's newer `NAME=IP`); IP may be host-gateway. */
export function parseExtraHosts(specs: readonly string[]): HostEntry[] {
  return specs.map((spec) => {
    const sep = spec.search(/[:=]/);
    const name = spec.slice(0, sep);
    const address = spec.slice(sep + 1);
    const hint = 'use NAME:IP, e.g. --add-host gw:192.0.2.1 or --add-host gw:host-gateway';
    if (sep <= 0 || !HOSTNAME.test(name)) throw new InvalidArgumentError(`invalid --add-host "${quotePrefix(spec)}": bad host name`, hint);
    if (address === HOST_GATEWAY) return { name, address };
    try {
      return { name, address: formatIpv4(parseIpv4(address)) };
    } catch {
      throw new InvalidArgumentError(`invalid --add-host "${quotePrefix(spec)}": "${quotePrefix(address)}" is not an IPv4 address`, hint);
    }
  });
}

/** `NAME[:ALIAS]`, to containers that exist now (their addresses are taken at start). */
export function resolveLinks(specs: readonly string[], containers: ContainerTable): ContainerLink[] {
  return specs.map((spec) => {
    const [name = '', alias = name, extra] = spec.split(':');
    if (name === '' || alias === '' || extra !== undefined || !HOSTNAME.test(alias)) {
      throw new InvalidArgumentError(`invalid --link "${quotePrefix(spec)}"`, 'use NAME or NAME:ALIAS, e.g. --link bb1 or --link bb1:db');
    }
    const target = containers.find(name);
    if (!target) throw new InvalidArgumentError(`cannot link to container "${quotePrefix(name)}": no such container`, 'list containers with: berth ps -a');
    return { containerId: target.id, alias };
  });
}
