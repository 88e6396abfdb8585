import { readFile } from 'node:fs/promises';
import { BerthError, InvalidArgumentError } from '../../common/errors.js';
import type { Handover } from '../handover.js';
import { hostPortText, parsePortSpec } from '../../common/portspec.js';
import { boolFlag, flag, flagList, parseArgs, usageError, type CommandInfo, type FlagSpecs, type Parsed } from '../../common/args.js';
import type { ApiClient } from '../client.js';
import { demultiplex } from '../stdcopy.js';

export const RUN_USAGE = `Usage: berth run [OPTIONS] -- COMMAND [ARG...]

Create and start a container running a host COMMAND in its own network namespace.

Options:
  -d, --detach           Run in the background and print the container id
      --name NAME        Assign a name (default: generated)
      --rm               Remove the container when it exits
      --network NET      Connect to a network (default "bridge"), or a mode: host | none |
                         container:NAME (share NAME's network namespace)
      --ip ADDR          Static IPv4 address on the network (user-defined networks with --subnet)
      --mac-address MAC  Static MAC address, e.g. 02:42:ac:12:00:99
      --network-alias A  Another name for the container on the network (repeatable; also --alias)
      --link NAME[:ALIAS]  Name another container in /etc/hosts (one way; repeatable)
      --add-host NAME:IP   Add a line to /etc/hosts (IP may be host-gateway; repeatable)
      --dns ADDR         Nameserver instead of the host's (repeatable)
      --dns-search DOM   Search domain instead of the host's (repeatable)
      --dns-option OPT   resolv.conf option instead of the host's, e.g. ndots:2 (repeatable)
  -h, --hostname NAME    Container hostname (default: the first 12 hex digits of its id)
  -e, --env KEY=VAL      Set an environment variable (repeatable)
  -u, --user USER[:GRP]  Run the command as this user and group (names or ids; default root)
      --read-only        Make the host's root filesystem read-only in the container
  -l, --label KEY=VAL    Set a label (repeatable; filter with ps --filter label=KEY=VAL)
      --label-file FILE  Read labels from a file of KEY=VALUE lines (# starts a comment)
  -p, --publish SPEC     Publish a port: [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp] (repeatable)
      --expose PORT      Expose a port or range, e.g. 80 or 7000-7002/udp (repeatable)
  -P, --publish-all      Publish every exposed port on a random host port
      --dry-run          Print the ip/nft commands it would run, change nothing (no root needed)`;

const RUN_FLAGS: FlagSpecs = {
  detach: { short: 'd', value: false },
  name: { value: true },
  rm: { value: false },
  network: { value: true },
  net: { value: true },
  ip: { value: true },
  'mac-address': { value: true },
  'network-alias': { value: true, repeat: true },
  alias: { value: true, repeat: true },
  link: { value: true, repeat: true },
  'add-host': { value: true, repeat: true },
  dns: { value: true, repeat: true },
  'dns-search': { value: true, repeat: true },
  'dns-option': { value: true, repeat: true },
  'dns-opt': { value: true, repeat: true },
  hostname: { short: 'h', value: true },
  env: { short: 'e', value: true, repeat: true },
  label: { short: 'l', value: true, repeat: true },
  'label-file': { value: true, repeat: true },
  publish: { short: 'p', value: true, repeat: true },
  expose: { value: true, repeat: true },
  'publish-all': { short: 'P', value: false },
  user: { short: 'u', value: true },
  'read-only': { value: false },
  'dry-run': { value: false },
};

const RUN: CommandInfo = { name: 'run', usage: RUN_USAGE };

/** `berth create --help`: run's text without the run-only flags. */
const CREATE: CommandInfo = {
  name: 'create',
  usage: RUN_USAGE.replace('berth run', 'berth create')
    .replace('Create and start a container', 'Create a container (start it with berth start)')
    .split('\n')
    .filter((line) => !/^\s+(-d, --detach|--dry-run)\b/.test(line))
    .join('\n'),
};

interface EndpointSettingsBody {
  IPAMConfig?: { IPv4Address: string };
  Aliases?: string[];
  MacAddress?: string;
}

export interface CreateBody {
  Cmd: string[];
  Env: string[];
  Labels: Record<string, string>;
  Hostname?: string;
  User: string;
  ExposedPorts: Record<string, Record<string, never>>;
  HostConfig: {
    NetworkMode: string;
    AutoRemove: boolean;
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
    PublishAllPorts: boolean;
    ReadonlyRootfs: boolean;
    Dns: string[];
    DnsSearch: string[];
    DnsOptions: string[];
    ExtraHosts: string[];
    Links: string[];
  };
  NetworkingConfig: { EndpointsConfig: Record<string, EndpointSettingsBody> };
}

export async function runCommand(client: ApiClient, argv: readonly string[], handover: Handover): Promise<number> {
  const parsed = parseArgs(RUN, argv, RUN_FLAGS);
  const detach = boolFlag(parsed, 'detach');
  const autoRemove = boolFlag(parsed, 'rm');
  // Attached --rm is done by this client after it has read all output (as the docker CLI does).
  const { body, query, name } = await createRequest(RUN, parsed, autoRemove && detach);
  if (boolFlag(parsed, 'dry-run')) return dryRun(client, handover, body, query, name);

  const id = await createContainer(client, body, query);
  try {
    await client.call('POST', `/containers/${id}/start`);
  } catch (err) {
    // A container that could not start is removed, so a failed `run` leaves nothing behind.
    await client.call('DELETE', `/containers/${id}?force=1`).catch(() => undefined);
    throw err;
  }
  if (detach) {
    console.log(id);
    return 0;
  }
  return attach(client, id, autoRemove);
}

/**
 * `berth create`: the container without starting it, so it can be connected to more
 * networks first (`network connect`), then started (`berth start`), as with docker create.
 */
export async function createCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(CREATE, argv, RUN_FLAGS);
  for (const only of ['detach', 'dry-run']) {
    if (parsed.flags.has(only)) throw usageError(CREATE, `--${only} is a flag of berth run, not of berth create`);
  }
  const { body, query } = await createRequest(CREATE, parsed, boolFlag(parsed, 'rm'));
  console.log(await createContainer(client, body, query));
  return 0;
}

async function createContainer(client: ApiClient, body: CreateBody, query: string): Promise<string> {
  const { Id: id, Warnings: warnings } = (await client.call('POST', `/containers/create${query}`, body)) as { Id: string; Warnings: string[] };
  for (const warning of warnings) console.error(`WARNING: ${warning}`);
  return id;
}

/** The flags of `run` and `create` as Docker's ContainerCreateRequest. */
async function createRequest(command: CommandInfo, parsed: Parsed, autoRemove: boolean): Promise<{ body: CreateBody; query: string; name: string | undefined }> {
  const argv = parsed.rest ?? parsed.positionals;
  if (parsed.rest && parsed.positionals.length > 0) {
    throw usageError(command, `unexpected argument "${parsed.positionals[0]!}" before "--": berth has no images, put the command after "--"`);
  }
  if (argv.length === 0) throw usageError(command, `"berth ${command.name}" requires a command, e.g. berth ${command.name} -d -- sleep 1000`);
  const name = flag(parsed, 'name');
  const { exposed, bindings } = portFlags(flagList(parsed, 'publish'), flagList(parsed, 'expose'));
  const networkMode = flag(parsed, 'network') ?? flag(parsed, 'net') ?? 'bridge';
  const endpoint = endpointFlags(parsed);
  const body: CreateBody = {
    Cmd: argv,
    Env: flagList(parsed, 'env'),
    Labels: await labelFlags(flagList(parsed, 'label'), flagList(parsed, 'label-file')),
    Hostname: flag(parsed, 'hostname'),
    User: flag(parsed, 'user') ?? '',
    ExposedPorts: exposed,
    HostConfig: {
      NetworkMode: networkMode,
      AutoRemove: autoRemove,
      PortBindings: bindings,
      PublishAllPorts: boolFlag(parsed, 'publish-all'),
      ReadonlyRootfs: boolFlag(parsed, 'read-only'),
      Dns: flagList(parsed, 'dns'),
      DnsSearch: flagList(parsed, 'dns-search'),
      DnsOptions: [...flagList(parsed, 'dns-option'), ...flagList(parsed, 'dns-opt')],
      ExtraHosts: flagList(parsed, 'add-host'),
      Links: flagList(parsed, 'link'),
    },
    NetworkingConfig: { EndpointsConfig: endpoint ? { [networkMode]: endpoint } : {} },
  };
  return { body, query: name === undefined ? '' : `?name=${encodeURIComponent(name)}`, name };
}

/**
 * `--label-file`s first, then `--label`s (later ones win), as the docker CLI merges them.
 * `--label KEY` alone is the label with an empty value.
 */
async function labelFlags(labels: readonly string[], files: readonly string[]): Promise<Record<string, string>> {
  const lines: string[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InvalidArgumentError(`cannot read --label-file "${file}": ${err.code ?? err.message}`);
    });
    lines.push(...text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')));
  }
  const out: Record<string, string> = {};
  for (const entry of [...lines, ...labels]) {
    const eq = entry.indexOf('=');
    const key = eq === -1 ? entry : entry.slice(0, eq);
    if (key === '') throw new InvalidArgumentError(`invalid label "${entry}": the key is empty`, 'use --label KEY=VALUE');
    out[key] = eq === -1 ? '' : entry.slice(eq + 1);
  }
  return out;
}

/** --ip, --mac-address and --network-alias as Docker's EndpointSettings (undefined: none given). */
function endpointFlags(parsed: Parsed): EndpointSettingsBody | undefined {
  const ip = flag(parsed, 'ip');
  const mac = flag(parsed, 'mac-address');
  const aliases = [...flagList(parsed, 'network-alias'), ...flagList(parsed, 'alias')];
  if (ip === undefined && mac === undefined && aliases.length === 0) return undefined;
  return {
    ...(ip !== undefined ? { IPAMConfig: { IPv4Address: ip } } : {}),
    ...(aliases.length > 0 ? { Aliases: aliases } : {}),
    ...(mac !== undefined ? { MacAddress: mac } : {}),
  };
}

/**
 * -p and --expose into Docker's ExposedPorts and HostConfig.PortBindings, as the docker CLI
 * sends them (a host port range for one container port stays a range: "8000-8010").
 */
export function portFlags(
  publish: readonly string[],
  expose: readonly string[],
): { exposed: CreateBody['ExposedPorts']; bindings: CreateBody['HostConfig']['PortBindings'] } {
  const exposed: CreateBody['ExposedPorts'] = {};
  const bindings: CreateBody['HostConfig']['PortBindings'] = {};
  for (const spec of publish) {
    for (const m of parsePortSpec(spec)) {
      const key = `${m.containerPort}/${m.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostIp: m.hostIp, HostPort: hostPortText(m) });
    }
  }
  for (const spec of expose) {
    for (const m of parsePortSpec(spec)) {
      if (m.hostPorts !== undefined || m.hostIp !== '') throw new InvalidArgumentError(`invalid --expose "${spec}": give only container ports`, 'e.g. --expose 80 or --expose 7000-7002/udp');
      exposed[`${m.containerPort}/${m.protocol}`] = {};
    }
  }
  return { exposed, bindings };
}

async function attach(client: ApiClient, id: string, autoRemove: boolean): Promise<number> {
  const forward = (signal: NodeJS.Signals) => () => void client.call('POST', `/containers/${id}/kill?signal=${signal}`).catch(() => undefined);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  try {
    const logs = await client.stream('GET', `/containers/${id}/logs?follow=1&stdout=1&stderr=1`);
    await demultiplex(logs, process.stdout, process.stderr);
    const { StatusCode } = (await client.call('POST', `/containers/${id}/wait`)) as { StatusCode: number };
    if (autoRemove) await client.call('DELETE', `/containers/${id}?force=1`);
    return StatusCode;
  } finally {
    process.off('SIGINT', onInt).off('SIGTERM', onTerm);
  }
}

/**
 * `berth explain run|create ARGS`: the plan as `--dry-run` gives it, each step with a
 * comment saying why, and the names the embedded resolver would answer.
 */
export async function explainRun(client: ApiClient, argv: readonly string[], handover: Handover, command: 'run' | 'create'): Promise<string> {
  const info = command === 'run' ? RUN : CREATE;
  const parsed = parseArgs(info, argv, RUN_FLAGS);
  const { body, query, name } = await createRequest(info, parsed, boolFlag(parsed, 'rm') && boolFlag(parsed, 'detach'));
  try {
    return ((await client.call('POST', `/berth/plan/run${query}`, body)) as { Explanation: string }).Explanation;
  } catch (err) {
    if (!(err instanceof BerthError) || (err.code !== 'unavailable' && err.code !== 'permission')) throw err;
  }
  return handover.planOffline(body, name, true);
}

/** `--dry-run`: the daemon's plan when it answers, else a plan against a fresh default bridge (no root needed). */
async function dryRun(client: ApiClient, handover: Handover, body: CreateBody, query: string, name: string | undefined): Promise<number> {
  try {
    const { Script } = (await client.call('POST', `/berth/plan/run${query}`, body)) as { Script: string };
    console.log(Script);
    return 0;
  } catch (err) {
    if (!(err instanceof BerthError) || (err.code !== 'unavailable' && err.code !== 'permission')) throw err;
  }
  // The daemon's own planning, run here without a daemon (loaded only now).
  console.log(await handover.planOffline(body, name, false));
  return 0;
}
