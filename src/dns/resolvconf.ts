/**
 * /etc/resolv.conf: what berth reads from the host and what it writes for a container.
 * Docker's rules: a container on a user-defined network asks the embedded resolver
 * (127.0.0.11) and keeps the host's search domains and options, adding `ndots:0` unless
 * an ndots is given (so a bare container name is tried as-is first); any other container
 * asks the host's nameservers itself, minus loopback ones, which mean nothing inside
 * another namespace. `--dns`, `--dns-search` and `--dns-opt` replace the host's values.
 */
export interface ResolvConf {
  readonly nameservers: readonly string[];
  readonly search: readonly string[];
  readonly options: readonly string[];
}

export const EMPTY_RESOLV_CONF: ResolvConf = { nameservers: [], search: [], options: [] };

/** Docker's fallback when the host has no usable nameserver for a container. */
export const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  const options: string[] = [];
  for (const raw of text.split('\n')) {
    const [keyword, ...values] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (keyword === 'nameserver' && values[0]) nameservers.push(values[0]);
    // The last search (or domain) line wins, as in resolv.conf(5).
    else if (keyword === 'search' || keyword === 'domain') search = values;
    else if (keyword === 'options') options.push(...values);
  }
  return { nameservers, search, options };
}

/** Container settings over the host's: each given list replaces the host's one. */
export function overlay(host: ResolvConf, given: ResolvConf): ResolvConf {
  return {
    nameservers: given.nameservers.length > 0 ? given.nameservers : host.nameservers,
    search: given.search.length > 0 ? given.search : host.search,
    options: given.options.length > 0 ? given.options : host.options,
  };
}

/** resolv.conf pointing at the embedded resolver. */
export function embeddedResolvConf(settings: ResolvConf, resolverAddress: string): string {
  const ndots = settings.options.some((o) => o.startsWith('ndots:')) ? [] : ['ndots:0'];
  return render({ nameservers: [resolverAddress], search: settings.search, options: [...settings.options, ...ndots] });
}

/** resolv.conf of a container that asks nameservers itself, from another namespace than the host's. */
export function directResolvConf(settings: ResolvConf): string {
  const usable = settings.nameservers.filter((ns) => !isLoopback(ns));
  return render({ ...settings, nameservers: usable.length > 0 ? usable : FALLBACK_NAMESERVERS });
}

/** resolv.conf of a host-mode container: the settings as they are (loopback servers work there). */
export function hostModeResolvConf(settings: ResolvConf): string {
  return render(settings);
}

function render(c: ResolvConf): string {
  const lines = [
    ...c.nameservers.map((ns) => `nameserver ${ns}`),
    ...(c.search.length > 0 ? [`search ${c.search.join(' ')}`] : []),
    ...(c.options.length > 0 ? [`options ${c.options.join(' ')}`] : []),
  ];
  return lines.join('\n') + '\n';
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
