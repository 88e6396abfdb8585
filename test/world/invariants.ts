import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isLeaving } from '../../src/kernel/reaper.js';
import { eventually, listBerthNetns, run, UPLINK_IP, type World } from './world.js';

/**
 * What must hold between berth's records and the kernel whatever happened before — a
 * crash at any point, containers killed, the kernel's state lost — checked from outside:
 * the API's view against `ip`, `nft` and /proc, and real connections and DNS queries.
 * Returns the violations, each a sentence; none when all holds.
 *
 *  - a running container's process lives, its namespace is pinned, and in it each endpoint
 *    has its link up with its address and MAC, plus a default route; its host-side veth is
 *    up on its network's bridge;
 *  - a container that is not running has no namespace and no veth left;
 *  - nothing leaked: every veth, bridge and berth namespace belongs to a running container
 *    or a network;
 *  - no address is held twice in a network, no MAC twice;
 *  - the published-port map holds exactly the running containers' ports, and each answers
 *    a connection from outside;
 *  - the resolver answers each name with the live container's addresses on the networks
 *    it shares with the asker, and nothing for names that do not run;
 *  - the daemon itself sees no drift.
 */
const DNS_NAMES = fileURLToPath(new URL('./dns-names.js', import.meta.url));

interface Endpoint {
  readonly network: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly mac: string;
  readonly ifname: string;
  readonly hostIfname: string;
}

interface Container {
  readonly name: string;
  readonly running: boolean;
  readonly pid: number;
  readonly netns: string;
  readonly endpoints: readonly Endpoint[];
  readonly published: readonly number[];
}

interface Link {
  readonly ifname: string;
  readonly master?: string;
  readonly flags: readonly string[];
  readonly address?: string;
  readonly linkinfo?: { readonly info_kind?: string };
  readonly addr_info?: readonly { readonly family: string; readonly local: string; readonly prefixlen: number }[];
}

async function containersOf(w: World): Promise<Container[]> {
  const list = JSON.parse((await w.api('GET', '/containers/json?all=1')).body) as { Id: string }[];
  const containers: Container[] = [];
  for (const { Id } of list) {
    const c = JSON.parse((await w.api('GET', `/containers/${Id}/json`)).body) as {
      Name: string;
      State: { Running: boolean; Pid: number };
      NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; IPPrefixLen: number; MacAddress: string; BerthInterface?: string; BerthHostInterface?: string }>; Ports: Record<string, { HostPort: string }[] | null> };
    };
    containers.push({
      name: c.Name.replace(/^\//, ''),
      running: c.State.Running,
      pid: c.State.Pid,
      // berth names a sandbox after the container's id (a stopped one shows no SandboxKey).
      netns: c.NetworkSettings.SandboxKey === '' ? `berth-${Id.slice(0, 12)}` : basename(c.NetworkSettings.SandboxKey),
      endpoints: Object.entries(c.NetworkSettings.Networks).map(([network, e]) => ({ network, address: e.IPAddress, prefixLength: e.IPPrefixLen, mac: e.MacAddress, ifname: e.BerthInterface ?? '', hostIfname: e.BerthHostInterface ?? '' })),
      published: Object.values(c.NetworkSettings.Ports).flatMap((bindings) => (bindings ?? []).map((b) => Number(b.HostPort))),
    });
  }
  return containers;
}

async function linksIn(netnsArgs: readonly string[]): Promise<Link[]> {
  const r = await run('ip', [...netnsArgs, '-d', '-j', 'addr', 'show']);
  return r.code === 0 ? (JSON.parse(r.stdout) as Link[]) : [];
}

function processLives(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a TCP connection from the outside host to the host's uplink address and `port` is accepted. */
async function connects(w: World, port: number): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', w.outside, 'timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${UPLINK_IP}/${port}`]);
  return r.code === 0;
}

/** The daemon's view in one line per container (name, state, network=address@veth): for failure messages. */
export async function describeContainers(w: World): Promise<string> {
  return (await containersOf(w)).map((c) => `${c.name} ${c.running ? 'running' : 'stopped'} ${c.endpoints.map((e) => `${e.network}=${e.address}@${e.hostIfname}`).join(' ')}`).join('\n  ');
}

export async function invariantViolations(w: World, everNamed: ReadonlySet<string>): Promise<string[]> {
  const problems: string[] = [];
  const containers = await containersOf(w);
  const networks = JSON.parse((await w.api('GET', '/networks')).body) as { Name: string; Driver: string; BerthBridge?: string }[];
  const bridgeOf = new Map(networks.map((n) => [n.Name, n.BerthBridge ?? '']));
  // Links on their way out (renamed "gone…" by a daemon that died before deleting them) are
  // deleted in the background by the next one's start: they must go, a moment later.
  await eventually(async () => !(await linksIn(['-n', w.host])).some((l) => isLeaving(l.ifname)), 3000);
  const hostLinks = new Map((await linksIn(['-n', w.host])).map((l) => [l.ifname, l]));
  const running = containers.filter((c) => c.running);

  for (const c of containers) {
    if (!c.running) {
      if (existsSync(`/run/netns/${c.netns}`)) problems.push(`${c.name} is not running but its namespace ${c.netns} exists`);
      for (const e of c.endpoints) if (e.hostIfname !== '' && hostLinks.has(e.hostIfname)) problems.push(`${c.name} is not running but its veth ${e.hostIfname} exists`);
      continue;
    }
    if (!processLives(c.pid)) problems.push(`${c.name} is running but its process ${c.pid} is gone`);
    if (!existsSync(`/run/netns/${c.netns}`)) {
      problems.push(`${c.name} is running but its namespace ${c.netns} is not pinned`);
      continue;
    }
    const inside = new Map((await linksIn(['-n', c.netns])).map((l) => [l.ifname, l]));
    for (const e of c.endpoints) {
      const host = hostLinks.get(e.hostIfname);
      if (!host) problems.push(`${c.name} on ${e.network}: host veth ${e.hostIfname} is missing`);
      else if (host.master !== bridgeOf.get(e.network) || !host.flags.includes('UP')) problems.push(`${c.name} on ${e.network}: host veth ${e.hostIfname} is on ${host.master ?? 'no bridge'} (${host.flags.join(',')}), not up on ${bridgeOf.get(e.network)}`);
      const link = inside.get(e.ifname);
      if (!link) {
        problems.push(`${c.name} on ${e.network}: ${e.ifname} is missing in its namespace`);
        continue;
      }
      if (!link.flags.includes('UP')) problems.push(`${c.name}: ${e.ifname} is down`);
      if (link.address !== e.mac) problems.push(`${c.name}: ${e.ifname} has MAC ${link.address ?? '?'}, the record says ${e.mac}`);
      if (!(link.addr_info ?? []).some((a) => a.family === 'inet' && a.local === e.address && a.prefixlen === e.prefixLength)) problems.push(`${c.name}: ${e.ifname} lacks ${e.address}/${e.prefixLength}`);
    }
    if (c.endpoints.length > 0) {
      const route = await run('ip', ['-n', c.netns, 'route', 'show', 'default']);
      if (route.stdout.trim() === '') problems.push(`${c.name} has no default route`);
    }
  }

  // Leaks: every veth, bridge and sandbox namespace is someone's.
  const hostSides = new Set(running.flatMap((c) => c.endpoints.map((e) => e.hostIfname)));
  const bridges = new Set(bridgeOf.values());
  for (const l of hostLinks.values()) {
    const kind = l.linkinfo?.info_kind;
    if (kind === 'veth' && l.ifname !== 'uplink0' && !hostSides.has(l.ifname)) problems.push(`leaked veth ${l.ifname} (master ${l.master ?? 'none'})`);
    if (kind === 'bridge' && !bridges.has(l.ifname)) problems.push(`leaked bridge ${l.ifname}`);
  }
  const sandboxes = new Set(running.map((c) => c.netns));
  for (const ns of await listBerthNetns()) if (!sandboxes.has(ns)) problems.push(`leaked namespace ${ns}`);

  // Duplicates among what runs.
  const seen = new Map<string, string>();
  for (const c of running) {
    for (const e of c.endpoints) {
      for (const key of [`address ${e.address} on ${e.network}`, `MAC ${e.mac}`]) {
        const holder = seen.get(key);
        if (holder !== undefined) problems.push(`${key} is held by both ${holder} and ${c.name}`);
        seen.set(key, c.name);
      }
    }
  }

  // Published ports: the map holds exactly the running containers' ports, and each answers.
  const map = await run('ip', ['netns', 'exec', w.host, 'nft', '-j', 'list', 'map', 'ip', 'berth', 'pub_any']);
  const elements = map.code === 0 ? ((JSON.parse(map.stdout) as { nftables: { map?: { elem?: unknown[] } }[] }).nftables.find((o) => o.map)?.map?.elem ?? []) : [];
  const mapped = new Set(elements.map((e) => Number((JSON.stringify(e).match(/"concat":\["tcp",(\d+)\]/) ?? [])[1])));
  const expected = new Set(running.flatMap((c) => c.published));
  for (const port of expected) {
    if (!mapped.has(port)) problems.push(`published port ${port} is not in the port map`);
    else if (!(await connects(w, port))) problems.push(`published port ${port} does not answer from outside`);
  }
  for (const port of mapped) if (!expected.has(port)) problems.push(`the port map holds ${port}, which no running container publishes`);

  // DNS: asked from one running container of each user-defined network. A name answers
  // with the live container's addresses on every user-defined network it shares with the
  // asker (a multi-homed asker resolves the names of all its networks), else nothing.
  const servesNames = new Set(networks.filter((n) => n.Driver === 'bridge' && n.Name !== 'bridge').map((n) => n.Name));
  const askers = new Set(networks.flatMap((n) => (servesNames.has(n.Name) ? running.filter((c) => c.endpoints.some((e) => e.network === n.Name)).slice(0, 1) : [])));
  for (const asker of askers) {
    const shared = new Set(asker.endpoints.map((e) => e.network).filter((n) => servesNames.has(n)));
    const r = await run('nsenter', ['-t', String(asker.pid), '-n', process.execPath, DNS_NAMES, ...everNamed]);
    const answers = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { name: string; addresses: string[] });
    for (const { name, addresses } of answers) {
      const live = running.find((c) => c.name === name);
      const want = (live?.endpoints ?? []).filter((e) => shared.has(e.network)).map((e) => e.address).sort();
      if (JSON.stringify([...addresses].sort()) !== JSON.stringify(want)) problems.push(`DNS asked from ${asker.name} answers ${name} with [${addresses.join(', ')}], expected [${want.join(', ')}]`);
    }
  }

  const drift = await w.berth('system', 'reconcile', '--dry-run');
  if (!/nothing drifted/.test(drift.stdout)) problems.push(`the daemon sees drift: ${drift.stdout.trim()}${drift.stderr.trim()}`);
  return problems;
}
