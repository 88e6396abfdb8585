import { BerthError } from '../../common/errors.js';
import { boolFlag, flag, parseArgs } from '../args.js';
import type { ApiClient } from '../client.js';
import { applyFormat, table } from '../format.js';
import { demultiplex } from '../stdcopy.js';

interface Summary {
  Id: string;
  Ports: { IP: string; PrivatePort: number; PublicPort: number; Type: string }[];
  Names: string[];
  Command: string;
  Created: number;
  Status: string;
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

export async function psCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('ps', argv, { all: { short: 'a', value: false }, quiet: { short: 'q', value: false } });
  const list = (await client.call('GET', `/containers/json${boolFlag(parsed, 'all') ? '?all=1' : ''}`)) as Summary[];
  if (boolFlag(parsed, 'quiet')) {
    for (const c of list) console.log(c.Id.slice(0, 12));
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
      c.Ports.map((p) => `${p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`).join(', '),
      c.Names.map((n) => n.replace(/^\//, '')).join(','),
    ];
  });
  console.log(table(['CONTAINER ID', 'COMMAND', 'CREATED', 'STATUS', 'NETWORKS', 'IP ADDRESS', 'PORTS', 'NAMES'], rows));
  return 0;
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

/** Runs `action` for every name, reporting each failure and continuing, like `docker rm a b`. */
async function forEachName(names: readonly string[], action: (name: string) => Promise<void>): Promise<number> {
  if (names.length === 0) throw new BerthError('invalid_argument', 'requires at least 1 container name or id');
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

export async function rmCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('rm', argv, { force: { short: 'f', value: false } });
  const force = boolFlag(parsed, 'force') ? '?force=1' : '';
  return forEachName(parsed.positionals, (n) => client.call('DELETE', `/containers/${encodeURIComponent(n)}${force}`).then(() => undefined));
}

export async function stopCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('stop', argv, { time: { short: 't', value: true } });
  const t = flag(parsed, 'time');
  return forEachName(parsed.positionals, (n) => client.call('POST', `/containers/${encodeURIComponent(n)}/stop${t ? `?t=${t}` : ''}`).then(() => undefined));
}

export async function startCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('start', argv, {});
  return forEachName(parsed.positionals, (n) => client.call('POST', `/containers/${encodeURIComponent(n)}/start`).then(() => undefined));
}

export async function inspectCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('inspect', argv, { format: { short: 'f', value: true } });
  const format = flag(parsed, 'format');
  if (parsed.positionals.length === 0) throw new BerthError('invalid_argument', 'requires at least 1 argument', 'berth inspect NAME|ID...');
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

export async function logsCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('logs', argv, { follow: { short: 'f', value: false } });
  const name = parsed.positionals[0];
  if (name === undefined || parsed.positionals.length > 1) throw new BerthError('invalid_argument', 'logs takes exactly 1 container', 'berth logs [-f] NAME');
  const follow = boolFlag(parsed, 'follow') ? '&follow=1' : '';
  const stream = await client.stream('GET', `/containers/${encodeURIComponent(name)}/logs?stdout=1&stderr=1${follow}`);
  await demultiplex(stream, process.stdout, process.stderr);
  return 0;
}

export async function waitCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('wait', argv, {});
  let last = 0;
  for (const name of parsed.positionals) {
    const { StatusCode } = (await client.call('POST', `/containers/${encodeURIComponent(name)}/wait`)) as { StatusCode: number };
    console.log(StatusCode);
    last = StatusCode;
  }
  return last === 0 ? 0 : 1;
}

/** `berth port NAME [PORT[/PROTO]]`: the published bindings, as `docker port` prints them. */
export async function portCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs('port', argv, {});
  const [name, filter] = parsed.positionals;
  if (name === undefined || parsed.positionals.length > 2) throw new BerthError('invalid_argument', 'port takes a container and optionally a port', 'berth port NAME [PORT[/PROTO]]');
  const info = (await client.call('GET', `/containers/${encodeURIComponent(name)}/json`)) as {
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
