import { BerthError, InvalidArgumentError } from '../../common/errors.js';
import { boolFlag, flag, flagList, parseArgs, type FlagSpecs, type Parsed } from '../args.js';
import type { ApiClient } from '../client.js';
import { applyFormat, table } from '../format.js';

export const NETWORK_USAGE = `Usage: berth network COMMAND

Manage networks.

Commands:
  create [OPTIONS] NAME                   Create a bridge network
  ls [-q] [-f name=|id=|driver=] [--format T]  List networks
  inspect [-f FORMAT] NAME...             Show networks as Docker-shaped JSON
  rm NAME...                              Remove networks (not while containers use them)
  prune [-f]                              Remove every user-defined network no container uses
  connect [OPTIONS] NETWORK CONTAINER     Connect a container (it gets one more interface)
  disconnect NETWORK CONTAINER            Disconnect a container

create options:
  -d, --driver NAME          Driver (default "bridge")
      --subnet CIDR          Subnet (default: the next free one of the address pools)
      --gateway ADDR         Gateway address (default: the first address of the subnet)
      --ip-range CIDR        Allocate container addresses from this part of the subnet
      --aux-address NAME=IP  Never hand out this address (repeatable)
      --internal             No way in or out: no NAT, no published ports
      --attachable           Accepted for compatibility (local networks always are)
      --label KEY=VALUE      Set a label (repeatable)
  -o, --opt KEY=VALUE        Driver option: com.docker.network.bridge.name=NAME,
                             com.docker.network.driver.mtu=N (repeatable)

connect options:
      --ip ADDR              Static IPv4 address on the network
      --alias NAME           Another name for the container on the network (repeatable)
      --mac-address MAC      Static MAC address`;

interface NetworkView {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  BerthBridge?: string;
}

const CREATE_FLAGS: FlagSpecs = {
  driver: { short: 'd', value: true },
  subnet: { value: true, repeat: true },
  gateway: { value: true, repeat: true },
  'ip-range': { value: true, repeat: true },
  'aux-address': { value: true, repeat: true },
  internal: { value: false },
  attachable: { value: false },
  label: { value: true, repeat: true },
  opt: { short: 'o', value: true, repeat: true },
  ipv6: { value: false },
};

const CONNECT_FLAGS: FlagSpecs = {
  ip: { value: true },
  alias: { value: true, repeat: true },
  'mac-address': { value: true },
};

type Subcommand = (client: ApiClient, argv: readonly string[]) => Promise<number>;

const SUBCOMMANDS: Record<string, Subcommand> = {
  create: createNetwork,
  ls: listNetworks,
  list: listNetworks,
  inspect: inspectNetworks,
  rm: removeNetworks,
  remove: removeNetworks,
  prune: pruneNetworks,
  connect: connectNetwork,
  disconnect: disconnectNetwork,
};

export async function networkCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === 'help') {
    console.log(NETWORK_USAGE);
    return sub === undefined ? 1 : 0;
  }
  const run = SUBCOMMANDS[sub];
  if (!run) throw new InvalidArgumentError(`unknown network command "${sub}"`, `available: ${Object.keys(SUBCOMMANDS).join(', ')}`);
  return run(client, rest);
}

function exactlyOne(parsed: Parsed, what: string): string {
  if (parsed.positionals.length !== 1) throw new InvalidArgumentError(`"network ${what}" needs exactly one network name`, `berth network ${what} [OPTIONS] NAME`);
  return parsed.positionals[0]!;
}

/** KEY=VALUE flags into a map; the flag name makes the error specific. */
function keyValues(values: readonly string[], flagName: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${flagName} "${v}"`, `use ${flagName} KEY=VALUE`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

function atMostOne(parsed: Parsed, name: string): string | undefined {
  const values = flagList(parsed, name);
  if (values.length > 1) throw new InvalidArgumentError(`--${name} given ${values.length} times: berth supports one IPv4 subnet per network`);
  return values[0];
}

async function createNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network create', argv, CREATE_FLAGS);
  const name = exactlyOne(parsed, 'create');
  const subnet = atMostOne(parsed, 'subnet');
  const config = {
    Subnet: subnet,
    Gateway: atMostOne(parsed, 'gateway'),
    IPRange: atMostOne(parsed, 'ip-range'),
    AuxiliaryAddresses: keyValues(flagList(parsed, 'aux-address'), '--aux-address'),
  };
  const given = config.Subnet !== undefined || config.Gateway !== undefined || config.IPRange !== undefined || Object.keys(config.AuxiliaryAddresses).length > 0;
  const body = {
    Name: name,
    Driver: flag(parsed, 'driver') ?? 'bridge',
    Internal: boolFlag(parsed, 'internal'),
    Attachable: boolFlag(parsed, 'attachable'),
    EnableIPv6: boolFlag(parsed, 'ipv6'),
    Labels: keyValues(flagList(parsed, 'label'), '--label'),
    Options: keyValues(flagList(parsed, 'opt'), '--opt'),
    IPAM: { Driver: 'default', Config: given ? [config] : [] },
  };
  const { Id } = (await client.call('POST', '/networks/create', body)) as { Id: string };
  console.log(Id);
  return 0;
}

/** `--filter KEY=VALUE` of `network ls`: name and id match by substring/prefix, as Docker's do. */
function networkFilter(specs: readonly string[]): (n: NetworkView) => boolean {
  const tests = Object.entries(keyValues(specs, '--filter')).map(([key, value]): ((n: NetworkView) => boolean) => {
    switch (key) {
      case 'name':
        return (n) => n.Name.includes(value);
      case 'id':
        return (n) => n.Id.startsWith(value);
      case 'driver':
        return (n) => n.Driver === value;
      default:
        throw new InvalidArgumentError(`invalid --filter "${key}=${value}"`, 'accepted filters: name=, id=, driver=');
    }
  });
  return (n) => tests.every((t) => t(n));
}

async function listNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network ls', argv, { quiet: { short: 'q', value: false }, filter: { short: 'f', value: true, repeat: true }, format: { value: true } });
  const matches = networkFilter(flagList(parsed, 'filter'));
  const list = ((await client.call('GET', '/networks')) as NetworkView[]).filter(matches);
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  const format = flag(parsed, 'format');
  if (boolFlag(parsed, 'quiet') || format !== undefined) {
    // Docker's row fields for --format: .ID is the short id.
    for (const n of list) console.log(format === undefined ? n.Id.slice(0, 12) : applyFormat(format, { ...n, ID: n.Id.slice(0, 12) }));
    return 0;
  }
  const rows = list.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope, n.IPAM.Config.map((c) => c.Subnet).join(','), n.BerthBridge ?? '']);
  console.log(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'BRIDGE'], rows));
  return 0;
}

async function inspectNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network inspect', argv, { format: { short: 'f', value: true } });
  if (parsed.positionals.length === 0) throw new InvalidArgumentError('"network inspect" needs at least one network', 'berth network inspect NAME...');
  return eachNetwork(parsed.positionals, async (name) => {
    const found = await client.call('GET', `/networks/${encodeURIComponent(name)}`);
    const format = flag(parsed, 'format');
    return format !== undefined ? applyFormat(format, found) : found;
  }, (results) => {
    const formatted = flag(parsed, 'format') !== undefined;
    if (formatted) for (const r of results) console.log(r);
    else console.log(JSON.stringify(results, null, 4));
  });
}

async function removeNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network rm', argv, { force: { short: 'f', value: false } });
  if (parsed.positionals.length === 0) throw new InvalidArgumentError('"network rm" needs at least one network', 'berth network rm NAME...');
  return eachNetwork(parsed.positionals, async (name) => {
    await client.call('DELETE', `/networks/${encodeURIComponent(name)}`);
    console.log(name);
    return name;
  });
}

async function pruneNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  // berth never prompts, so -f is accepted and changes nothing.
  parseArgs('network prune', argv, { force: { short: 'f', value: false } });
  const { NetworksDeleted } = (await client.call('POST', '/networks/prune')) as { NetworksDeleted: string[] };
  if (NetworksDeleted.length > 0) console.log(['Deleted Networks:', ...NetworksDeleted].join('\n'));
  return 0;
}

function containerAndNetwork(parsed: Parsed, what: string): [string, string] {
  const [network, container, extra] = parsed.positionals;
  if (network === undefined || container === undefined || extra !== undefined) {
    throw new InvalidArgumentError(`"network ${what}" needs a network and a container`, `berth network ${what} [OPTIONS] NETWORK CONTAINER`);
  }
  return [network, container];
}

async function connectNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network connect', argv, CONNECT_FLAGS);
  const [network, container] = containerAndNetwork(parsed, 'connect');
  const ip = flag(parsed, 'ip');
  const mac = flag(parsed, 'mac-address');
  const EndpointConfig = {
    ...(ip !== undefined ? { IPAMConfig: { IPv4Address: ip } } : {}),
    Aliases: flagList(parsed, 'alias'),
    ...(mac !== undefined ? { MacAddress: mac } : {}),
  };
  await client.call('POST', `/networks/${encodeURIComponent(network)}/connect`, { Container: container, EndpointConfig });
  return 0;
}

async function disconnectNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('network disconnect', argv, { force: { short: 'f', value: false } });
  const [network, container] = containerAndNetwork(parsed, 'disconnect');
  await client.call('POST', `/networks/${encodeURIComponent(network)}/disconnect`, { Container: container, Force: boolFlag(parsed, 'force') });
  return 0;
}

/**
 * Runs `action` for every name, as docker does for rm and inspect: an error about one
 * name is printed and the rest still run; the exit code says whether any failed.
 */
async function eachNetwork<T>(names: readonly string[], action: (name: string) => Promise<T>, done?: (results: T[]) => void): Promise<number> {
  const results: T[] = [];
  let failed = false;
  for (const name of names) {
    try {
      results.push(await action(name));
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      failed = true;
      console.error(`Error: ${err.message}`);
      if (err.hint) console.error(`Hint: ${err.hint}`);
    }
  }
  done?.(results);
  return failed ? 1 : 0;
}
