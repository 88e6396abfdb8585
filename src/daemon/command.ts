import { join } from 'node:path';
import { boolFlag, flag, flagList, parseArgs, usageError, type CommandInfo } from '../common/args.js';
import { InvalidArgumentError } from '../common/errors.js';
import { checkedDnsSettings } from '../engine/dns-config.js';
import { firstSubnet } from '../engine/model.js';
import { parseAddressPoolSpec } from '../ipam/subnets.js';
import { DAEMON_DEFAULTS, EXECUTOR_KINDS, parseExecutorKind, parseFirewallName, startDaemon, WEB_URL_FILE } from './daemon.js';
import { parseWebAddress } from '../web/server.js';
import { installLastResortHandlers } from './last-resort.js';
import { DEFAULT_LEASE_TTL_SECONDS, parseClusterOptions } from './cluster.js';

export const DAEMON_USAGE = `Usage: berth daemon [OPTIONS]

Run the berth daemon (as root). It creates the default bridge, enables forwarding and
NAT, and serves the API on a unix socket.

Options:
      --data-root DIR   Persistent state (default ${DAEMON_DEFAULTS.dataRoot})
      --exec-root DIR   Runtime files: socket, pidfile (default ${DAEMON_DEFAULTS.execRoot})
      --bip CIDR        Default bridge address, e.g. 172.17.0.1/16 (default: first free of 172.17-31.0.0/16)
      --bridge NAME     Default bridge name (default ${DAEMON_DEFAULTS.bridge})
      --dns ADDR        Nameserver for every container instead of the host's (repeatable)
      --default-address-pool base=CIDR,size=N
                        Where network subnets come from (repeatable; default Docker's:
                        172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s)
      --executor KIND   How plans reach the kernel: ${EXECUTOR_KINDS.join(' | ')} (default ${DAEMON_DEFAULTS.executor}:
                        in-process rtnetlink; ip: one \`ip -batch\` process per namespace side)
      --firewall NAME   nftables (default: berth's table, published ports in maps) |
                        iptables (Docker's DOCKER-chain layout with BERTH names)
  -H, --host URL        Socket to listen on (default unix://<exec-root>/berth.sock)
  -d, --detach          Run in the background: return once the API answers (output in
                        <exec-root>/berth.log)
      --cluster-store etcd://HOST:PORT[,etcd://HOST:PORT...]
                        Join a cluster of hosts sharing this etcd (the host is present
                        under a lease while the daemon lives)
      --cluster-advertise ADDR
                        This host's address on the network the hosts share
      --cluster-lease-ttl SECONDS
                        How long a dead or cut-off host stays present (default ${DEFAULT_LEASE_TTL_SECONDS}, 2-60)
      --repair-interval MS
                        How often drift from the records is looked for and repaired
                        (deleted links, flushed rules...) besides at once after a kernel
                        change berth did not make; default 500, 0: only at start and
                        with berth system reconcile
      --docker-plugins DIR
                        Also serve dockerd as its network and IPAM plugin: sockets
                        berth, berth-macvlan, berth-ipvlan, berth-overlay in DIR
                        (dockerd looks in /run/docker/plugins)
      --web [ADDR:]PORT Serve the topology page (live picture, trace form) on ADDR
                        (default 127.0.0.1); its address with the token that opens it
                        is in <exec-root>/web-url, readable as the API socket is`;

const DAEMON: CommandInfo = { name: 'daemon', usage: DAEMON_USAGE };

export async function daemonCommand(argv: readonly string[], globalHost: string | undefined): Promise<number> {
  const parsed = parseArgs(DAEMON, argv, {
    'data-root': { value: true },
    'exec-root': { value: true },
    bip: { value: true },
    bridge: { value: true },
    'default-address-pool': { value: true, repeat: true },
    dns: { value: true, repeat: true },
    executor: { value: true },
    firewall: { value: true },
    host: { short: 'H', value: true },
    detach: { short: 'd', value: false },
    'cluster-store': { value: true },
    'cluster-advertise': { value: true },
    'cluster-lease-ttl': { value: true },
    'docker-plugins': { value: true },
    'repair-interval': { value: true },
    web: { value: true },
  });
  const execRoot = flag(parsed, 'exec-root') ?? DAEMON_DEFAULTS.execRoot;
  const host = flag(parsed, 'host') ?? globalHost ?? process.env.BERTH_HOST;
  if (parsed.positionals.length > 0) throw usageError(DAEMON, `"berth daemon" accepts no arguments, got "${parsed.positionals[0]!}"`);
  if (boolFlag(parsed, 'detach')) {
    const foreground = argv.filter((a) => a !== '-d' && a !== '--detach' && a !== '--detach=true');
    const socketPath = host ? socketPathFrom(host) : join(execRoot, 'berth.sock');
    return (await import('./detach.js')).startDetached([...foreground, ...(host && !flag(parsed, 'host') ? ['-H', host] : [])], socketPath, join(execRoot, 'berth.log'));
  }
  const cluster = parseClusterOptions(flag(parsed, 'cluster-store'), flag(parsed, 'cluster-advertise'), flag(parsed, 'cluster-lease-ttl'));
  // A daemon serves every container's names and ports: a bug in one request must not end it.
  installLastResortHandlers();
  const daemon = await startDaemon({
    dataRoot: flag(parsed, 'data-root') ?? DAEMON_DEFAULTS.dataRoot,
    execRoot,
    socketPath: host ? socketPathFrom(host) : join(execRoot, 'berth.sock'),
    bridge: flag(parsed, 'bridge') ?? DAEMON_DEFAULTS.bridge,
    bip: flag(parsed, 'bip'),
    addressPools: flagList(parsed, 'default-address-pool').map(parseAddressPoolSpec),
    dnsServers: checkedDnsSettings({ nameservers: flagList(parsed, 'dns'), search: [], options: [] }).nameservers,
    executor: parseExecutorKind(flag(parsed, 'executor') ?? DAEMON_DEFAULTS.executor),
    firewall: parseFirewallName(flag(parsed, 'firewall') ?? DAEMON_DEFAULTS.firewall),
    ...(cluster ? { cluster } : {}),
    ...(flag(parsed, 'docker-plugins') ? { dockerPluginDir: flag(parsed, 'docker-plugins') } : {}),
    repairIntervalMs: parseRepairInterval(flag(parsed, 'repair-interval')),
    ...(flag(parsed, 'web') ? { web: parseWebAddress(flag(parsed, 'web')!) } : {}),
  });
  const bridge = daemon.engine.defaultNetwork();
  const unavailable = daemon.engine.networks.drivers.list().filter((e) => !e.availability.available);
  console.log(
    `berth daemon ready (pid ${process.pid}, executor ${flag(parsed, 'executor') ?? DAEMON_DEFAULTS.executor}, firewall ${flag(parsed, 'firewall') ?? DAEMON_DEFAULTS.firewall}): ` +
      `bridge ${String(bridge.driverData.bridge)} ${firstSubnet(bridge).gateway ?? ''} ${firstSubnet(bridge).subnet}, API on unix://${host ? socketPathFrom(host) : join(execRoot, 'berth.sock')}` +
      (flag(parsed, 'docker-plugins') ? `\n  dockerd plugins in ${flag(parsed, 'docker-plugins') ?? ''}: berth (network + IPAM), berth-macvlan, berth-ipvlan, berth-overlay` : '') +
      (daemon.webUrl ? `\n  topology page on ${daemon.webUrl.replace(/\?token=.*/, '')} (its token: ${join(execRoot, WEB_URL_FILE)})` : '') +
      (cluster ? `\n  cluster store ${cluster.endpoints.join(',')}, this host ${cluster.advertise} (lease ${cluster.leaseTtlSeconds} s)` : '') +
      unavailable.map((e) => `\n  driver ${e.driver.name} unavailable: ${e.availability.available ? '' : e.availability.reason}`).join(''),
  );
  // Containers keep running when the daemon stops (like dockerd --live-restore); the next
  // daemon adopts them.
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await daemon.stop();
  return 0;
}

/** The default: drift (a deleted bridge, a flushed ruleset) is repaired within 1 s (bench/drift.ts: p95 ~0.6 s). */
const DEFAULT_REPAIR_INTERVAL_MS = 500;

function parseRepairInterval(value: string | undefined): number {
  if (value === undefined) return DEFAULT_REPAIR_INTERVAL_MS;
  if (!/^\d+$/.test(value) || (Number(value) > 0 && Number(value) < 100) || Number(value) > 3_600_000) {
    throw new InvalidArgumentError(`invalid --repair-interval "${value}"`, 'give milliseconds from 100 to 3600000, or 0 to repair only at start and on demand');
  }
  return Number(value);
}

/** The path of a `unix://` host (the daemon listens on unix sockets only). */
function socketPathFrom(host: string): string {
  if (!host.startsWith('unix://') || host.length <= 'unix://'.length) {
    throw new InvalidArgumentError(`invalid host "${host}"`, 'berth listens on a unix socket: -H unix:///run/berth/berth.sock');
  }
  return host.slice('unix://'.length);
}
