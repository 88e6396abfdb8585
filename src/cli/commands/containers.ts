import { BerthError } from '../../common/errors.js';
import { boolFlag, flag, flagList, parseArgs, usageError, type CommandInfo, type Parsed } from '../../common/args.js';
import { filtersParam } from '../filters.js';
import type { ApiClient } from '../client.js';
import { applyFormat, printFormatted, table } from '../format.js';
import { demultiplex } from '../stdcopy.js';

interface Summary {
  Id: string;
  State: string;
  Labels: Record<string, string>;
  Ports: { IP: string; PrivatePort: number; PublicPort: number; Type: string }[];
  Names: string[];
  Command: string;
  Created: number;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

const PS: CommandInfo = {
  name: 'ps',
  usage: `Usage: berth ps [OPTIONS]

List containers (running ones unless -a, or a filter asks for stopped ones).

Options:
  -a, --all              Show all containers
  -f, --filter KEY=VALUE Filter (repeatable): name=, id=, label=KEY[=VALUE], label!=KEY[=VALUE],
                         status=created|running|exited, network=NET, exited=CODE,
                         before=CONTAINER, since=CONTAINER
      --format TEMPLATE  Go-template subset per container: {{.ID}} {{.Names}} {{.Status}}
                         {{.Networks}} {{.Ports}} {{.Labels}} {{.Command}}; "table ..." adds a header
  -q, --quiet            Only display container ids`,
};

export async function psCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(PS, argv, { all: { short: 'a', value: false }, quiet: { short: 'q', value: false }, filter: { short: 'f', value: true, repeat: true }, format: { value: true } });
  noPositionals(PS, parsed);
  const query = new URLSearchParams();
  if (boolFlag(parsed, 'all')) query.set('all', '1');
  const filters = filtersParam(PS, flagList(parsed, 'filter'));
  if (filters !== undefined) query.set('filters', filters);
  const list = (await client.call('GET', `/containers/json${query.size > 0 ? `?${query.toString()}` : ''}`)) as Summary[];
  const format = flag(parsed, 'format');
  if (boolFlag(parsed, 'quiet')) {
    for (const c of list) console.log(c.Id.slice(0, 12));
    return 0;
  }
  if (format !== undefined) {
    printFormatted(format, list.map(psRow));
    return 0;
  }
  const rows = list.map((c) => {
    const nets = Object.entries(c.NetworkSettings.Networks);
    return [
      c.Id.slice(0, 12),
      truncate(JSON.stringify(c.Command), 24),
      `${ago(c.Created)}`,
      c.Status,
      nets.map(([n]) => n).join(',') || c.HostConfig.NetworkMode.replace(/^(container:[0-9a-f]{12})[0-9a-f]{52}$/, '$1'),
      nets.map(([, e]) => e.IPAddress).join(','),
      portsText(c),
      c.Names.map((n) => n.replace(/^\//, '')).join(','),
    ];
  });
  console.log(table(['CONTAINER ID', 'COMMAND', 'CREATED', 'STATUS', 'NETWORKS', 'IP ADDRESS', 'PORTS', 'NAMES'], rows));
  return 0;
}

function portsText(c: Summary): string {
  return c.Ports.map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`).join(', ');
}

/** The fields `docker ps --format` offers, with its names. */
function psRow(c: Summary): Record<string, string> {
  return {
    ID: c.Id.slice(0, 12),
    Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
    Command: JSON.stringify(c.Command),
    CreatedAt: new Date(c.Created * 1000).toISOString(),
    RunningFor: ago(c.Created),
    Status: c.Status,
    State: c.State,
    Networks: Object.keys(c.NetworkSettings.Networks).join(','),
    Ports: portsText(c),
    Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    Image: '',
  };
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 2)}…"` : s;
}

function ago(epochSeconds: number): string {
  const s = Math.max(0, Math.floor(Date.now() / 1000 - epochSeconds));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  return `${Math.floor(s / 3600)} hours ago`;
}

function noPositionals(command: CommandInfo, parsed: Parsed): void {
  if (parsed.positionals.length > 0) throw usageError(command, `"berth ${command.name}" accepts no arguments`);
}

/** Runs `action` for every name, reporting each failure and continuing, like `docker rm a b`. */
async function forEachName(command: CommandInfo, names: readonly string[], action: (name: string) => Promise<void>): Promise<number> {
  if (names.length === 0) throw usageError(command, `"berth ${command.name}" requires at least 1 container name or id`);
  let failed = 0;
  for (const name of names) {
    try {
      await action(name);
      console.log(name);
    } catch (err) {
      failed++;
      console.error(`Error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

const RM: CommandInfo = {
  name: 'rm',
  usage: `Usage: berth rm [OPTIONS] CONTAINER...

Remove containers, their namespaces, interfaces and state.

Options:
  -f, --force   Kill running containers first`,
};

export async function rmCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(RM, argv, { force: { short: 'f', value: false } });
  const force = boolFlag(parsed, 'force') ? '?force=1' : '';
  return forEachName(RM, parsed.positionals, (n) => client.call('DELETE', `/containers/${encodeURIComponent(n)}${force}`).then(() => undefined));
}

const STOP: CommandInfo = {
  name: 'stop',
  usage: `Usage: berth stop [OPTIONS] CONTAINER...

Stop running containers: SIGTERM to the container's processes, then SIGKILL.

Options:
  -t, --time SECONDS   Seconds to wait for it to exit before SIGKILL (default 10)`,
};

export async function stopCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(STOP, argv, { time: { short: 't', value: true } });
  const t = flag(parsed, 'time');
  if (t !== undefined && !/^\d+$/.test(t)) throw usageError(STOP, `invalid --time "${t}": give whole seconds`);
  return forEachName(STOP, parsed.positionals, (n) => client.call('POST', `/containers/${encodeURIComponent(n)}/stop${t ? `?t=${t}` : ''}`).then(() => undefined));
}

const START: CommandInfo = {
  name: 'start',
  usage: `Usage: berth start CONTAINER...

Start created containers.`,
};

export async function startCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(START, argv, {});
  return forEachName(START, parsed.positionals, (n) => client.call('POST', `/containers/${encodeURIComponent(n)}/start`).then(() => undefined));
}

const INSPECT: CommandInfo = {
  name: 'inspect',
  usage: `Usage: berth inspect [OPTIONS] NAME|ID...

Show containers (or networks) as Docker-shaped JSON.

Options:
  -f, --format TEMPLATE   {{.Field.Sub}} and {{json .Field}} per object`,
};

export async function inspectCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(INSPECT, argv, { format: { short: 'f', value: true } });
  const format = flag(parsed, 'format');
  if (parsed.positionals.length === 0) throw usageError(INSPECT, '"berth inspect" requires at least 1 argument');
  const found: unknown[] = [];
  let failed = false;
  for (const name of parsed.positionals) {
    const ref = encodeURIComponent(name);
    try {
      found.push(await client.call('GET', `/containers/${ref}/json`).catch(async (err: unknown) => {
        // Like `docker inspect`: a name that is no container may be a network.
        if (err instanceof BerthError && err.code === 'not_found') return client.call('GET', `/networks/${ref}`).catch(() => Promise.reject(err));
        throw err;
      }));
    } catch (err) {
      failed = true;
      console.error(`Error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (format !== undefined) for (const v of found) console.log(applyFormat(format, v));
  else console.log(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

const LOGS: CommandInfo = {
  name: 'logs',
  usage: `Usage: berth logs [OPTIONS] CONTAINER

Show a container's output (stdout and stderr).

Options:
  -f, --follow   Keep streaming until the container exits`,
};

export async function logsCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(LOGS, argv, { follow: { short: 'f', value: false } });
  const name = parsed.positionals[0];
  if (name === undefined || parsed.positionals.length > 1) throw usageError(LOGS, '"berth logs" requires exactly 1 container');
  const follow = boolFlag(parsed, 'follow') ? '&follow=1' : '';
  const stream = await client.stream('GET', `/containers/${encodeURIComponent(name)}/logs?stdout=1&stderr=1${follow}`);
  await demultiplex(stream, process.stdout, process.stderr);
  return 0;
}

const WAIT: CommandInfo = {
  name: 'wait',
  usage: `Usage: berth wait CONTAINER...

Wait until containers stop, then print their exit codes (one per line). Exits 0 once
every code is printed, whatever the codes, as docker wait does.`,
};

export async function waitCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(WAIT, argv, {});
  if (parsed.positionals.length === 0) throw usageError(WAIT, '"berth wait" requires at least 1 container');
  let failed = false;
  for (const name of parsed.positionals) {
    try {
      const { StatusCode } = (await client.call('POST', `/containers/${encodeURIComponent(name)}/wait`)) as { StatusCode: number };
      console.log(StatusCode);
    } catch (err) {
      failed = true;
      console.error(`Error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return failed ? 1 : 0;
}

const PORT: CommandInfo = {
  name: 'port',
  usage: `Usage: berth port CONTAINER [PORT[/PROTO]]

List a container's published ports, e.g. 5000/tcp -> 0.0.0.0:1180.`,
};

/** `berth port NAME [PORT[/PROTO]]`: the published bindings, as `docker port` prints them. */
export async function portCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(PORT, argv, {});
  const [name, filter] = parsed.positionals;
  if (name === undefined || parsed.positionals.length > 2) throw usageError(PORT, '"berth port" takes a container and optionally a port');  const info = (await client.call('GET', `/containers/${encodeURIComponent(name)}/json`)) as {
    NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> };
  };
  const wanted = filter === undefined ? undefined : filter.includes('/') ? filter : `${filter}/tcp`;
  let printed = 0;
  for (const [key, bindings] of Object.entries(info.NetworkSettings.Ports)) {
    if (wanted !== undefined && key !== wanted) continue;
    for (const b of bindings ?? []) {
      console.log(wanted === undefined ? `${key} -> ${b.HostIp}:${b.HostPort}` : `${b.HostIp}:${b.HostPort}`);
      printed++;
    }
  }
  if (wanted !== undefined && printed === 0) throw new BerthError('not_found', `no public port '${wanted}' published for ${name}`);
  return 0;
}
