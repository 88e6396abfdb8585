import { BerthError, InvalidArgumentError } from '../../common/errors.js';
import { boolFlag, flag, flagList, HelpRequested, parseArgs, usageError, type CommandInfo, type FlagSpecs, type Parsed } from '../../common/args.js';
import type { ApiClient } from '../client.js';
import { ipamConfigsOf } from '../ipam-flags.js';
import { filtersParam } from '../filters.js';
import { applyFormat, printFormatted, table } from '../format.js';

const CREATE: CommandInfo = {
  name: 'network create',
  usage: `Usage: berth network create [OPTIONS] NETWORK

Create a network and print its id. Drivers (docs/drivers.md):
  bridge   a Linux bridge with the gateway address, NAT unless --internal, isolated
           from every other bridge network (the default)
  macvlan  containers as hosts of the parent's LAN, each with its own MAC (-o parent=IF)
  ipvlan   the same, sharing the parent's MAC; l2, l3 or l3s mode (-o parent=IF)

Options:
  -d, --driver NAME          Driver (default "bridge")
      --subnet CIDR          Subnet (default: the next free one of the address pools);
                             macvlan and ipvlan take several (repeat the flag)
      --gateway ADDR         Gateway address (default: the first address of its subnet)
      --ip-range CIDR        Allocate container addresses from this part of its subnet
      --aux-address NAME=IP  Never hand out this address (repeatable)
      --internal             No way in or out: no NAT, no published ports (macvlan/ipvlan:
                             no default route; without a parent, an isolated parent link)
      --attachable           Accepted for compatibility (local networks always are)
      --label KEY=VALUE      Set a label (repeatable)
  -o, --opt KEY=VALUE        Driver option (repeatable):
                               bridge:  com.docker.network.bridge.name=NAME,
                                        com.docker.network.driver.mtu=N
                               macvlan: parent=IF[.VLAN], macvlan_mode=bridge|private|vepa|passthru,
                                        berth.host_access=true, berth.host_access_address=IP
                               ipvlan:  parent=IF[.VLAN], ipvlan_mode=l2|l3|l3s,
                                        ipvlan_flag=bridge|private|vepa
      --dry-run              Print the ip/nft commands for the network and for its first
                             container's endpoint; change nothing`,
};

const CONNECT: CommandInfo = {
  name: 'network connect',
  usage: `Usage: berth network connect [OPTIONS] NETWORK CONTAINER

Connect a container to a network: it gets one more interface (eth1, eth2, ...).

Options:
      --ip ADDR              Static IPv4 address on the network
      --alias NAME           Another name for the container on the network (repeatable)
      --mac-address MAC      Static MAC address`,
};

export const NETWORK_USAGE = `Usage: berth network COMMAND

Manage networks.

Commands:
  create [OPTIONS] NAME                   Create a bridge network
  ls [-q] [-f KEY=VALUE] [--format T]     List networks
  inspect [-f FORMAT] NAME...             Show networks as Docker-shaped JSON
  rm NAME...                              Remove networks (not while containers use them)
  prune [-f] [--filter KEY=VALUE]         Remove every user-defined network no container uses
  connect [OPTIONS] NETWORK CONTAINER     Connect a container (it gets one more interface)
  disconnect NETWORK CONTAINER            Disconnect a container

Run 'berth network COMMAND --help' for a command's options.


${CREATE.usage.slice(CREATE.usage.indexOf('Options:'))}

connect ${CONNECT.usage.slice(CONNECT.usage.indexOf('Options:')).replace('Options:', 'options:')}`;

const LS: CommandInfo = {
  name: 'network ls',
  usage: `Usage: berth network ls [OPTIONS]

List networks.

Options:
  -f, --filter KEY=VALUE  Filter (repeatable): name=, id=, driver=, label=KEY[=VALUE],
                          label!=KEY[=VALUE], type=custom|builtin, scope=local, dangling=true|false
      --format TEMPLATE   Go-template subset per network: {{.ID}} {{.Name}} {{.Driver}} {{.Scope}};
                          "table ..." adds a header
  -q, --quiet             Only display network ids`,
};

const INSPECT: CommandInfo = {
  name: 'network inspect',
  usage: `Usage: berth network inspect [OPTIONS] NETWORK...

Show networks as Docker-shaped JSON.

Options:
  -f, --format TEMPLATE   {{.Field.Sub}} and {{json .Field}} per network`,
};

const RM: CommandInfo = {
  name: 'network rm',
  usage: `Usage: berth network rm NETWORK...

Remove networks; refused for the built-in ones and for networks containers use.`,
};

const PRUNE: CommandInfo = {
  name: 'network prune',
  usage: `Usage: berth network prune [OPTIONS]

Remove every user-defined network no container uses.

Options:
  -f, --force             Do not prompt (berth never does)
      --filter KEY=VALUE  Only networks that match (repeatable): label=KEY[=VALUE],
                          label!=KEY[=VALUE], until=TIMESTAMP|DURATION (created before)`,
};

const DISCONNECT: CommandInfo = {
  name: 'network disconnect',
  usage: `Usage: berth network disconnect [OPTIONS] NETWORK CONTAINER

Disconnect a container from a network: its interface there goes, its address is freed.

Options:
  -f, --force   Accepted for compatibility`,
};

const NETWORK: CommandInfo = { name: 'network', usage: NETWORK_USAGE };

interface NetworkView {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Labels: Record<string, string>;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  BerthBridge?: string;
  BerthDriverData?: Record<string, string | number | boolean>;
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
  'dry-run': { value: false },
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
  if (sub === '--help' || sub === 'help') throw new HelpRequested(NETWORK_USAGE);
  if (sub === undefined) throw usageError(NETWORK, '"berth network" requires a command');
  const run = SUBCOMMANDS[sub];
  if (!run) throw usageError(NETWORK, `unknown network command "${sub}" (available: ${Object.keys(SUBCOMMANDS).join(', ')})`);
  return run(client, rest);
}

function exactlyOne(parsed: Parsed, command: CommandInfo): string {
  if (parsed.positionals.length !== 1) throw usageError(command, `"berth ${command.name}" requires exactly 1 network name`);
  return parsed.positionals[0]!;
}

/** KEY=VALUE flags into a map; with `bareKeys`, a KEY alone means an empty value (Docker's `-o encrypted`, `--label x`). */
function keyValues(values: readonly string[], flagName: string, opts: { readonly bareKeys?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === -1 && opts.bareKeys && v !== '') {
      out[v] = '';
      continue;
    }
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${flagName} "${v}"`, `use ${flagName} KEY=VALUE`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

async function createNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const { parsed, name, body } = createNetworkRequest(argv);
  if (boolFlag(parsed, 'dry-run')) {
    const planned = (await client.call('POST', '/berth/plan/network', body)) as PlannedNetwork;
    for (const warning of planned.Warnings) console.error(`WARNING: ${warning}`);
    const network = planned.Script === '' ? `# network ${name}: nothing to create on the host (its parent link is used as it is)` : `# network ${name}\n${planned.Script}`;
    console.log(`${network}\n# its first container's endpoint\n${planned.FirstEndpointScript}`);
    return 0;
  }
  const { Id } = (await client.call('POST', '/networks/create', body)) as { Id: string };
  console.log(Id);
  return 0;
}

/** The daemon's answer to /berth/plan/network. */
export interface PlannedNetwork {
  Script: string;
  Explanation: string;
  FirstEndpointScript: string;
  FirstEndpointExplanation: string;
  Warnings: string[];
}

/** `network create`'s command line as the API's request body (also `berth explain network create`'s). */
export function createNetworkRequest(argv: readonly string[]): { parsed: Parsed; name: string; body: Record<string, unknown> } {
  const parsed = parseArgs(CREATE, argv, CREATE_FLAGS);
  const name = exactlyOne(parsed, CREATE);
  const ipamConfigs = ipamConfigsOf({
    subnets: flagList(parsed, 'subnet'),
    gateways: flagList(parsed, 'gateway'),
    ipRanges: flagList(parsed, 'ip-range'),
    auxAddresses: keyValues(flagList(parsed, 'aux-address'), '--aux-address'),
  });
  const body = {
    Name: name,
    Driver: flag(parsed, 'driver') ?? 'bridge',
    Internal: boolFlag(parsed, 'internal'),
    Attachable: boolFlag(parsed, 'attachable'),
    EnableIPv6: boolFlag(parsed, 'ipv6'),
    Labels: keyValues(flagList(parsed, 'label'), '--label', { bareKeys: true }),
    Options: keyValues(flagList(parsed, 'opt'), '--opt', { bareKeys: true }),
    IPAM: { Driver: 'default', Config: ipamConfigs },
  };
  return { parsed, name, body };
}

async function listNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(LS, argv, { quiet: { short: 'q', value: false }, filter: { short: 'f', value: true, repeat: true }, format: { value: true } });
  if (parsed.positionals.length > 0) throw usageError(LS, '"berth network ls" accepts no arguments');
  const filters = filtersParam(LS, flagList(parsed, 'filter'));
  const list = (await client.call('GET', `/networks${filters === undefined ? '' : `?filters=${encodeURIComponent(filters)}`}`)) as NetworkView[];
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  const format = flag(parsed, 'format');
  if (boolFlag(parsed, 'quiet')) {
    for (const n of list) console.log(n.Id.slice(0, 12));
    return 0;
  }
  if (format !== undefined) {
    // Docker's row fields for --format: .ID is the short id.
    printFormatted(format, list.map((n) => ({ ID: n.Id.slice(0, 12), Name: n.Name, Driver: n.Driver, Scope: n.Scope, Internal: String(n.Internal), Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(',') })));
    return 0;
  }
  // The host link the network is built on: its bridge, or the parent of a macvlan/ipvlan network.
  const link = (n: NetworkView) => n.BerthBridge ?? String(n.BerthDriverData?.parent ?? '');
  const rows = list.map((n) => [n.Id.slice(0, 12), n.Name, n.Driver, n.Scope, n.IPAM.Config.map((c) => c.Subnet).join(','), link(n)]);
  console.log(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'LINK'], rows));
  return 0;
}

async function inspectNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(INSPECT, argv, { format: { short: 'f', value: true } });
  if (parsed.positionals.length === 0) throw usageError(INSPECT, '"berth network inspect" requires at least 1 network');
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
  const parsed = parseArgs(RM, argv, { force: { short: 'f', value: false } });
  if (parsed.positionals.length === 0) throw usageError(RM, '"berth network rm" requires at least 1 network');
  return eachNetwork(parsed.positionals, async (name) => {
    await client.call('DELETE', `/networks/${encodeURIComponent(name)}`);
    console.log(name);
    return name;
  });
}

async function pruneNetworks(client: ApiClient, argv: readonly string[]): Promise<number> {
  // berth never prompts, so -f is accepted and changes nothing.
  const parsed = parseArgs(PRUNE, argv, { force: { short: 'f', value: false }, filter: { value: true, repeat: true } });
  if (parsed.positionals.length > 0) throw usageError(PRUNE, '"berth network prune" accepts no arguments');
  const filters = filtersParam(PRUNE, flagList(parsed, 'filter'));
  const { NetworksDeleted } = (await client.call('POST', `/networks/prune${filters === undefined ? '' : `?filters=${encodeURIComponent(filters)}`}`)) as { NetworksDeleted: string[] };
  if (NetworksDeleted.length > 0) console.log(['Deleted Networks:', ...NetworksDeleted].join('\n'));
  return 0;
}

function containerAndNetwork(parsed: Parsed, command: CommandInfo): [string, string] {
  const [network, container, extra] = parsed.positionals;
  if (network === undefined || container === undefined || extra !== undefined) {
    throw usageError(command, `"berth ${command.name}" requires exactly 1 network and 1 container`);
  }
  return [network, container];
}

async function connectNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const { network, body } = connectRequest(argv);
  await client.call('POST', `/networks/${encodeURIComponent(network)}/connect`, body);
  return 0;
}

/** `network connect`'s command line as the network and the API's request body (also `berth explain connect`'s). */
export function connectRequest(argv: readonly string[]): { network: string; body: Record<string, unknown> } {
  const parsed = parseArgs(CONNECT, argv, CONNECT_FLAGS);
  const [network, container] = containerAndNetwork(parsed, CONNECT);
  const ip = flag(parsed, 'ip');
  const mac = flag(parsed, 'mac-address');
  const EndpointConfig = {
    ...(ip !== undefined ? { IPAMConfig: { IPv4Address: ip } } : {}),
    Aliases: flagList(parsed, 'alias'),
    ...(mac !== undefined ? { MacAddress: mac } : {}),
  };
  return { network, body: { Container: container, EndpointConfig } };
}

async function disconnectNetwork(client: ApiClient, argv: readonly string[]): Promise<number> {
  const { network, body } = disconnectRequest(argv);
  await client.call('POST', `/networks/${encodeURIComponent(network)}/disconnect`, body);
  return 0;
}

/** `network disconnect`'s command line as the network and the API's request body (also `berth explain disconnect`'s). */
export function disconnectRequest(argv: readonly string[]): { network: string; body: Record<string, unknown> } {
  const parsed = parseArgs(DISCONNECT, argv, { force: { short: 'f', value: false } });
  const [network, container] = containerAndNetwork(parsed, DISCONNECT);
  return { network, body: { Container: container, Force: boolFlag(parsed, 'force') } };
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
