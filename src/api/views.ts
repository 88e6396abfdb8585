import { createHash } from 'node:crypto';
import { shortId } from '../common/ids.js';
import type { ExternalEndpointRecord } from '../engine/external/endpoints.js';
import type { ExecSession } from '../engine/execs.js';
import { parseNetworkMode } from '../engine/modes.js';
import { DEFAULT_NETWORK, hasAddresses, isUserDefined, type ContainerRecord, type IpamRecord, type NetworkAttachment, type NetworkRecord } from '../engine/model.js';
import { hostPortText } from '../common/portspec.js';
import { HOST_IMAGE, HOST_IMAGE_ID } from './requests.js';
import { NETNS_DIR } from '../kernel/netns-dir.js';
import { join } from 'node:path';

/**
 * Docker Engine API shapes (field names and nesting as in API v1.43), so tools written
 * for Docker can read berth's answers. Fields berth has no concept for keep Docker's
 * empty values rather than disappearing.
 */

const EMPTY_ENDPOINT = {
  Gateway: '',
  IPAddress: '',
  IPPrefixLen: 0,
  IPv6Gateway: '',
  GlobalIPv6Address: '',
  GlobalIPv6PrefixLen: 0,
  MacAddress: '',
};

/**
 * Host- and none-mode containers have an endpoint on the built-in network without an
 * interface; Docker still shows an EndpointID. berth derives a stable one instead of
 * storing it.
 */
export function interfacelessEndpointId(containerId: string, networkId: string): string {
  return createHash('sha256').update(`${containerId}/${networkId}`).digest('hex');
}

/** Docker's EndpointSettings of one network of a container (empty addresses until it starts). */
function endpointSettings(c: ContainerRecord, attachment: NetworkAttachment, network: NetworkRecord | undefined) {
  const ep = c.endpoints.find((e) => e.networkId === attachment.networkId);
  const userDefined = isUserDefined(network);
  return {
    IPAMConfig: attachment.ipv4Address !== undefined ? { IPv4Address: attachment.ipv4Address } : userDefined ? {} : null,
    Links: null,
    // Docker adds the short id to the aliases on user-defined networks (DNS: part 4).
    Aliases: userDefined ? [...attachment.aliases, shortId(c.id)] : null,
    NetworkID: attachment.networkId,
    EndpointID: ep?.id ?? '',
    ...(ep
      ? { ...EMPTY_ENDPOINT, Gateway: ep.gateway, IPAddress: ep.address, IPPrefixLen: ep.prefixLength, MacAddress: ep.mac ?? '' }
      : { ...EMPTY_ENDPOINT, MacAddress: attachment.macAddress ?? '' }),
    DriverOpts: userDefined ? {} : null,
    // berth extras, named like Docker's fields, that explain the plumbing.
    ...(network ? bridgeField(network) : {}),
    ...(ep ? { BerthInterface: ep.ifname, ...(ep.hostIfname !== undefined ? { BerthHostInterface: ep.hostIfname } : {}) } : {}),
  };
}

function networksOf(c: ContainerRecord, networks: readonly NetworkRecord[]) {
  const out: Record<string, unknown> = {};
  const mode = parseNetworkMode(c.networkMode);
  if (mode.kind === 'host' || mode.kind === 'none') {
    const network = networks.find((n) => n.name === mode.kind);
    if (network) {
      out[network.name] = { IPAMConfig: null, Links: null, Aliases: null, NetworkID: network.id, EndpointID: interfacelessEndpointId(c.id, network.id), ...EMPTY_ENDPOINT, DriverOpts: null };
    }
    return out;
  }
  for (const attachment of c.networks) {
    const network = networks.find((n) => n.id === attachment.networkId);
    out[network?.name ?? attachment.networkId] = endpointSettings(c, attachment, network);
  }
  return out;
}

/** Docker's NetworkSettings.Ports: every published or exposed port, with its host bindings. */
function portsView(c: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const m of c.portMappings) out[`${m.containerPort}/${m.protocol}`] ??= null;
  for (const p of c.ports) {
    const key = `${p.containerPort}/${p.protocol}`;
    (out[key] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  }
  return out;
}

/** Docker's HostConfig.PortBindings: what was asked for ("" = any address / a random port). */
function portBindingsView(c: ContainerRecord): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const m of c.portMappings) {
    (out[`${m.containerPort}/${m.protocol}`] ??= []).push({ HostIp: m.hostIp, HostPort: hostPortText(m) });
  }
  return out;
}

function statusText(c: ContainerRecord, now = Date.now()): string {
  switch (c.state.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${humanDuration(now - Date.parse(c.state.startedAt))}`;
    case 'exited':
      return `Exited (${c.state.exitCode}) ${humanDuration(now - Date.parse(c.state.finishedAt))} ago`;
  }
}

export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return 'Less than a second';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'}`;
  return `${Math.round(h / 24)} days`;
}

/** GET /containers/json */
export function containerSummary(c: ContainerRecord, networks: readonly NetworkRecord[]) {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: HOST_IMAGE,
    ImageID: HOST_IMAGE_ID,
    Command: c.command.join(' '),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: c.ports.map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol })),
    Labels: c.labels,
    State: c.state.status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.networkMode },
    NetworkSettings: { Networks: networksOf(c, networks) },
    Mounts: [],
  };
}

/**
 * GET /containers/{id}/json, with every field of Docker's ContainerInspectResponse that
 * clients read (the python SDK indexes Image, Config.Tty, HostConfig.LogConfig...): those
 * berth has no concept for carry Docker's empty or default values.
 */
export function containerInspect(c: ContainerRecord, networks: readonly NetworkRecord[], containers: readonly ContainerRecord[], files: ContainerFiles, execIds: readonly string[] = []) {
  // The legacy top-level fields describe the default-bridge endpoint only, as in Docker.
  const defaultBridge = networks.find((n) => n.name === DEFAULT_NETWORK);
  const primary = c.endpoints.find((e) => e.networkId === defaultBridge?.id);
  // Only a running container has a sandbox (Docker's stopped ones show empty keys too).
  const ownSandbox = c.state.status === 'running' && c.netns !== '' && !c.networkMode.startsWith('container:');
  const running = c.state.status === 'running';
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0] ?? '',
    Args: c.command.slice(1),
    State: {
      Status: c.state.status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? c.state.pid : 0,
      ExitCode: c.state.exitCode,
      Error: c.state.error,
      StartedAt: c.state.startedAt,
      FinishedAt: c.state.finishedAt,
    },
    Image: HOST_IMAGE_ID,
    ResolvConfPath: files.resolvConfPath,
    HostnamePath: '',
    HostsPath: files.hostsPath,
    LogPath: files.stdoutPath,
    Name: `/${c.name}`,
    RestartCount: 0,
    Driver: 'berth',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: execIds.length > 0 ? execIds : null,
    GraphDriver: { Name: 'berth', Data: null },
    Mounts: [],
    Config: {
      Hostname: c.hostname,
      Domainname: '',
      User: c.user ?? '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ExposedPorts: exposedPortsView(c),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: c.env,
      Cmd: c.command,
      Image: HOST_IMAGE,
      Volumes: null,
      WorkingDir: '',
      Entrypoint: null,
      OnBuild: null,
      Labels: c.labels,
      StopSignal: 'SIGTERM',
    },
    HostConfig: {
      Binds: null,
      ContainerIDFile: '',
      LogConfig: { Type: 'json-file', Config: {} },
      NetworkMode: c.networkMode,
      PortBindings: portBindingsView(c),
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      AutoRemove: c.autoRemove,
      VolumeDriver: '',
      VolumesFrom: null,
      CapAdd: null,
      CapDrop: null,
      Dns: c.dns.nameservers,
      DnsSearch: c.dns.search,
      DnsOptions: c.dns.options,
      ExtraHosts: c.extraHosts.map((h) => `${h.name}:${h.address}`),
      GroupAdd: null,
      IpcMode: 'host',
      Cgroup: '',
      // Docker's form: "/target:/container/alias".
      Links: c.links.map((l) => `/${containers.find((x) => x.id === l.containerId)?.name ?? l.containerId}:/${c.name}/${l.alias}`),
      OomScoreAdj: 0,
      PidMode: 'host',
      Privileged: false,
      PublishAllPorts: false,
      ReadonlyRootfs: c.readOnly === true,
      SecurityOpt: null,
      UTSMode: '',
      UsernsMode: '',
      ShmSize: 0,
      Runtime: 'berth',
      Isolation: '',
      CpuShares: 0,
      Memory: 0,
      NanoCpus: 0,
      CgroupParent: '',
      Devices: [],
      Ulimits: null,
      MaskedPaths: null,
      ReadonlyPaths: null,
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: ownSandbox ? c.id : '',
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      SandboxKey: ownSandbox ? join(NETNS_DIR, c.netns) : '',
      Ports: portsView(c),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: primary?.id ?? '',
      Gateway: primary?.gateway ?? '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      IPAddress: primary?.address ?? '',
      IPPrefixLen: primary?.prefixLength ?? 0,
      IPv6Gateway: '',
      MacAddress: primary?.mac ?? '',
      Networks: networksOf(c, networks),
    },
  };
}

/** Where a container's files are, for inspect's *Path fields. */
export interface ContainerFiles {
  readonly hostsPath: string;
  readonly resolvConfPath: string;
  readonly stdoutPath: string;
}

/** Config.ExposedPorts: Docker's {"80/tcp": {}} for every published container port. */
function exposedPortsView(c: ContainerRecord): Record<string, object> | null {
  const ports = Object.fromEntries(c.portMappings.map((p) => [`${p.containerPort}/${p.protocol}`, {}]));
  return Object.keys(ports).length > 0 ? ports : null;
}

/** GET /networks/{id} */
export function networkInspect(n: NetworkRecord, containers: readonly ContainerRecord[], external: readonly ExternalEndpointRecord[] = []) {
  const attached: Record<string, unknown> = {};
  // dockerd's containers (berth being its plugin) are known by their endpoint alone: dockerd tells a plugin no container names.
  for (const { endpoint: ep, sandboxKey } of external.filter((r) => r.endpoint.networkId === n.id)) {
    attached[`ep-${ep.id}`] = { Name: `dockerd:${ep.id.slice(0, 12)}`, EndpointID: ep.id, MacAddress: ep.mac ?? '', IPv4Address: `${ep.address}/${ep.prefixLength}`, IPv6Address: '', BerthSandboxKey: sandboxKey ?? '' };
  }
  for (const c of containers) {
    for (const ep of c.endpoints.filter((e) => e.networkId === n.id)) {
      attached[c.id] = { Name: c.name, EndpointID: ep.id, MacAddress: ep.mac ?? '', IPv4Address: `${ep.address}/${ep.prefixLength}`, IPv6Address: '' };
    }
    if (!hasAddresses(n) && c.networkMode === n.name) {
      attached[c.id] = { Name: c.name, EndpointID: interfacelessEndpointId(c.id, n.id), MacAddress: '', IPv4Address: '', IPv6Address: '' };
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: hasAddresses(n) ? n.ipam.subnets.map(ipamConfigView) : [] },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: attached,
    Options: n.options,
    Labels: n.labels,
    // berth extras: the Linux bridge behind the network (Docker shows it only for the default
    // one), and everything its driver keeps (parent link, mode, links berth created).
    ...bridgeField(n),
    BerthDriverData: n.driverData,
  };
}

function bridgeField(n: NetworkRecord): { BerthBridge?: string } {
  return n.driver === 'bridge' && typeof n.driverData.bridge === 'string' ? { BerthBridge: n.driverData.bridge } : {};
}

/** Docker leaves Gateway (ipvlan l3), IPRange and AuxiliaryAddresses out when they are not set. */
function ipamConfigView(subnet: IpamRecord['subnets'][number]) {
  return {
    Subnet: subnet.subnet,
    ...(subnet.gateway !== undefined ? { Gateway: subnet.gateway } : {}),
    ...(subnet.ipRange !== undefined ? { IPRange: subnet.ipRange } : {}),
    ...(Object.keys(subnet.auxAddresses).length > 0 ? { AuxiliaryAddresses: subnet.auxAddresses } : {}),
  };
}

/** GET /exec/{id}/json */
export function execInspect(session: ExecSession) {
  const [entrypoint, ...args] = session.config.command;
  return {
    ID: session.id,
    Running: session.process !== undefined && session.exitCode === null,
    ExitCode: session.exitCode,
    ProcessConfig: { tty: session.config.tty, entrypoint: entrypoint ?? '', arguments: args, privileged: false, user: '' },
    OpenStdin: session.config.attachStdin,
    OpenStderr: session.config.attachStderr,
    OpenStdout: session.config.attachStdout,
    CanRemove: false,
    ContainerID: session.containerId,
    DetachKeys: '',
    Pid: session.process?.pid ?? 0,
  };
}

/**
 * GET /images/{host}/json: the one pseudo-image berth's containers name (host commands, no
 * filesystem of its own), so SDKs that look up a container's image find something.
 */
export function hostImageInspect() {
  return {
    Id: HOST_IMAGE_ID,
    RepoTags: [`${HOST_IMAGE}:latest`],
    RepoDigests: [],
    Parent: '',
    Comment: 'berth runs host commands in network namespaces: this image has no filesystem',
    Created: '1970-01-01T00:00:00Z',
    Container: '',
    DockerVersion: '',
    Author: 'berth',
    Config: { Env: null, Cmd: null, Entrypoint: null, Labels: null, WorkingDir: '', ExposedPorts: null, Volumes: null },
    Architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    Os: 'linux',
    Size: 0,
    VirtualSize: 0,
    GraphDriver: { Name: 'berth', Data: null },
    RootFS: { Type: 'layers', Layers: [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}
