import { InvalidArgumentError, quotePrefix } from './errors.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';

/**
 * `-p` specifications, parsed the way Docker parses them (docker/go-connections nat
 * ParsePortSpec): `[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]`.
 * One spec can publish several ports (a range); each becomes one PortMapping.
 */
export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface PortMapping {
  readonly protocol: Protocol;
  readonly containerPort: number;
  /** "" = every local address (Docker's 0.0.0.0). */
  readonly hostIp: string;
  /**
   * The host ports this mapping may use: one port, or a range to pick a free one from
   * (`-p 8000-8010:80`); undefined = any free ephemeral port (`-p 80`).
   */
  readonly hostPorts?: { readonly first: number; readonly last: number };
}

const USAGE = 'use [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp], e.g. 1180:5000 or 127.0.0.1:8080:80/udp';

function fail(spec: string, why: string): never {
  throw new InvalidArgumentError(`invalid port specification "${quotePrefix(spec)}": ${why}`, USAGE);
}

interface PortRange {
  readonly first: number;
  readonly last: number;
}

function parseRange(spec: string, text: string, what: string): PortRange {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) fail(spec, `${what} "${text}" is not a port or a port range`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  for (const port of [first, last]) {
    if (port < 1 || port > 65535) fail(spec, `${what} ${port} is out of range (1-65535)`);
  }
  if (last < first) fail(spec, `${what} range ${text} ends before it starts`);
  return { first, last };
}

function parseProtocol(spec: string, text: string | undefined): Protocol {
  const protocol = (text ?? 'tcp').toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') fail(spec, `unknown protocol "${text ?? ''}" (tcp, udp or sctp)`);
  return protocol;
}

function parseHostIp(spec: string, text: string): string {
  if (text === '' || text === '0.0.0.0') return '';
  try {
    return formatIpv4(parseIpv4(text));
  } catch {
    return fail(spec, `host address "${text}" is not an IPv4 address`);
  }
}

export function parsePortSpec(spec: string): PortMapping[] {
  const [addressPart, protocolText, extra] = spec.split('/');
  if (extra !== undefined || addressPart === undefined) fail(spec, 'more than one "/"');
  const protocol = parseProtocol(spec, protocolText);
  if (addressPart.startsWith('[')) fail(spec, 'IPv6 host addresses are not supported yet');
  const parts = addressPart.split(':');
  let hostIpText = '';
  let hostText = '';
  let containerText: string;
  if (parts.length === 1) containerText = parts[0]!;
  else if (parts.length === 2) [hostText, containerText] = [parts[0]!, parts[1]!];
  else if (parts.length === 3) [hostIpText, hostText, containerText] = [parts[0]!, parts[1]!, parts[2]!];
  else return fail(spec, 'too many ":"');
  if (containerText === '') fail(spec, 'no container port');
  const hostIp = parseHostIp(spec, hostIpText);
  const host = hostText === '' ? undefined : parseRange(spec, hostText, 'host port');
  const container = parseRange(spec, containerText, 'container port');
  const containerCount = container.last - container.first + 1;

  if (host === undefined) {
    return portsOf(container).map((containerPort) => ({ protocol, containerPort, hostIp }));
  }
  const hostCount = host.last - host.first + 1;
  // A host range for one container port means "any free port of this range" (Docker).
  if (containerCount === 1) return [{ protocol, containerPort: container.first, hostIp, hostPorts: host }];
  if (hostCount !== containerCount) {
    fail(spec, `host range ${hostText} has ${hostCount} ports but container range ${containerText} has ${containerCount}`);
  }
  return portsOf(container).map((containerPort, i) => ({
    protocol,
    containerPort,
    hostIp,
    hostPorts: { first: host.first + i, last: host.first + i },
  }));
}

/** A mapping's host port as Docker's PortBindings write it: "" (random), "1180", or "8000-8010". */
export function hostPortText(m: PortMapping): string {
  if (m.hostPorts === undefined) return '';
  return m.hostPorts.first === m.hostPorts.last ? String(m.hostPorts.first) : `${m.hostPorts.first}-${m.hostPorts.last}`;
}

function portsOf(range: PortRange): number[] {
  return Array.from({ length: range.last - range.first + 1 }, (_, i) => range.first + i);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A binding's HostPort: Docker's form is a string ("8080", "8000-8010", "" for a random
 * port); some clients send a number, which means that port, never a random one.
 */
function bindingHostPort(v: unknown, key: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  throw new InvalidArgumentError(`invalid request: HostConfig.PortBindings["${quotePrefix(key)}"].HostPort must be a string such as "8080" or "8000-8010"`);
}

/**
 * Docker's HostConfig.PortBindings ({"5000/tcp": [{"HostIp": "", "HostPort": "1180"}]}),
 * plus ExposedPorts when PublishAllPorts (-P) asks for all of them on random host ports.
 * Each binding is turned back into a -p spec so one parser checks every form.
 */
export function parsePortBindings(bindings: unknown, exposed: unknown, publishAll: unknown): PortMapping[] {
  const specs: string[] = [];
  if (bindings !== undefined && bindings !== null) {
    if (!isObject(bindings)) throw new InvalidArgumentError('invalid request: HostConfig.PortBindings must be an object');
    for (const [key, list] of Object.entries(bindings)) {
      const [port, proto = 'tcp'] = key.split('/');
      for (const b of Array.isArray(list) ? (list as unknown[]) : [{}]) {
        const hostIp = isObject(b) && typeof b.HostIp === 'string' ? b.HostIp : '';
        const hostPort = isObject(b) ? bindingHostPort(b.HostPort, key) : '';
        specs.push(`${hostIp}:${hostPort}:${port ?? ''}/${proto}`);
      }
    }
  }
  if (publishAll === true && isObject(exposed)) {
    const bound = new Set(Object.keys(isObject(bindings) ? bindings : {}));
    for (const key of Object.keys(exposed)) if (!bound.has(key)) specs.push(key);
  }
  return specs.flatMap((spec) => parsePortSpec(spec.startsWith('::') ? spec.slice(2) : spec.startsWith(':') ? spec.slice(1) : spec));
}
