import nl from 'netlink';
import { parseIpv4, ipv4Bytes } from '../../common/ipv4.js';
import { VETH_QUEUES } from '../ops.js';
import { NETLINK_ROUTE } from '../libc.js';
import { listeningSocket } from './listening-socket.js';
import { NETLINK_NETFILTER } from './nf-tables-socket.js';
import { RouteSocket } from './route-socket.js';

/**
 * A typed, small face on rtnetlink: the requests berth needs, with the byte encodings kept
 * here (the `netlink` package's structs, a thin mirror of the kernel's), sent on a socket
 * read synchronously (route-socket.ts). One instance is bound to one network namespace for
 * its lifetime — the namespace the thread was in when the socket was created (see
 * namespaces.ts). Its methods are synchronous: the kernel has answered when they return.
 */
const { rt, ifla, FlagsNew } = nl;
const CREATE_EXCL = FlagsNew.CREATE | FlagsNew.EXCL;
const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;
const AF_BRIDGE = 7;
const AF_INET = 2;
const AF_INET6 = 10;
const RT_TABLE_MAIN = 254;
/** IFLA_INET6_ADDR_GEN_MODE (8), a u8, = IN6_ADDR_GEN_MODE_NONE (1): the attribute inside AF_INET6's part of IFLA_AF_SPEC. */
const ADDR_GEN_MODE_NONE = Buffer.from([5, 0, 8, 0, 1, 0, 0, 0]);

function attrBytes(data: nl.StreamData): Buffer {
  const stream = new nl.AttrStream();
  stream.emit(data);
  return Buffer.concat(stream.bufs);
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function ipBytes(address: string): Buffer {
  return Buffer.from(ipv4Bytes(parseIpv4(address)));
}

export interface VethRequest {
  readonly hostName: string;
  readonly master: string;
  readonly peerName: string;
  readonly peerMac: string;
  /** An open fd of the namespace the peer is born in; absent: this socket's. */
  readonly peerNetnsFd?: number;
  readonly mtu?: number;
}

export interface MacvlanRequest {
  readonly name: string;
  readonly parent: string;
  readonly mode: 'bridge' | 'private' | 'vepa' | 'passthru';
  readonly mac?: string;
  /** An open fd of the namespace the link is born in; absent: this socket's namespace. */
  readonly netnsFd?: number;
  readonly mtu?: number;
}

/** linux/if_link.h: enum macvlan_mode. */
const MACVLAN_MODE = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
const IFLA_MACVLAN_MODE = 1;

/** One netlink attribute holding a u32 (the package has no macvlan encoder). */
function u32Attr(type: number, value: number): Buffer {
  const attr = Buffer.alloc(8);
  attr.writeUInt16LE(8, 0);
  attr.writeUInt16LE(type, 2);
  attr.writeUInt32LE(value, 4);
  return attr;
}

function u32Bytes(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value, 0);
  return b;
}

export class Rtnl {
  private readonly socket: RouteSocket;

  /**
   * A socket of the calling thread's namespace, or `adoptedFd`: an rtnetlink socket made
   * in another namespace (the namespace pool's thread makes one in each namespace it makes),
   * owned by this one from now on; its requests act in that namespace.
   */
  constructor(adoptedFd?: number) {
    this.socket = new RouteSocket(adoptedFd);
  }

  close(): void {
    this.socket.close();
  }

  /** The index of this namespace's link `name` (an ioctl, not a request: route-socket.ts). */
  linkIndex(name: string): number {
    const index = this.findLinkIndex(name);
    if (index === undefined) throw new Error(`Cannot find device "${name}"`);
    return index;
  }

  /** The index of this namespace's link `name`; undefined when it has none. */
  findLinkIndex(name: string): number | undefined {
    return this.socket.linkIndex(name);
  }

  /**
   * = ip link add HOST [mtu M] numtxqueues 1 numrxqueues 1 master MASTER up type veth peer name PEER
   * [mtu M] numtxqueues 1 numrxqueues 1 address MAC netns NS (the queues: ops.ts VETH_QUEUES).
   */
  addVeth(req: VethRequest): void {
    const queues = { numTxQueues: VETH_QUEUES, numRxQueues: VETH_QUEUES };
    const peer = Buffer.concat([
      rt.formatLink({}),
      attrBytes(ifla.formatLinkAttrs({ ifname: req.peerName, address: macBytes(req.peerMac), ...(req.peerNetnsFd !== undefined ? { netNsFd: req.peerNetnsFd } : {}), mtu: req.mtu, ...queues })),
    ]);
    const linkinfo = attrBytes(ifla.formatInfo({ kind: 'veth', data: attrBytes(ifla.formatVethInfo({ peer })) }));
    this.socket.newLink({ change: { up: true }, flags: { up: true } }, { ifname: req.hostName, master: this.linkIndex(req.master), mtu: req.mtu, ...queues, linkinfo }, CREATE_EXCL);
  }

  /**
   * This namespace's links with their details, IPv4 addresses, and a digest of both (names,
   * up, master, alias; addresses: equal digests mean nothing of that changed), from
   * one link dump and one address dump (a dump of 2,000 links costs ~50 ms to parse here:
   * a drift check reads them once for its digest and its view).
   */
  hostState(): HostState {
    const links = this.socket.getLinks();
    const addresses = this.socket.getAddresses({ family: AF_INET });
    const digest = JSON.stringify([
      links.map((l) => [l.data.index, l.attrs.ifname, l.data.flags?.up === true, l.attrs.master, l.attrs.ifalias]),
      addresses.map((a) => [a.data.index, a.data.prefixlen, (a.attrs.local ?? a.attrs.address)?.toString('hex')]),
    ]);
    return { links: detailsOf(links), addresses: ipv4AddressesOf(links, addresses), digest };
  }

  /**
   * = ip -4 addr; ip -4 route show default: this namespace's links (up or not), their IPv4
   * addresses and the main table's default route, from three in-process dumps.
   */
  routingState(): RoutingState {
    const links = this.socket.getLinks();
    const addresses = this.socket.getAddresses({ family: AF_INET });
    const routes = this.socket.getRoutes({ family: AF_INET });
    const nameOf = new Map(links.map((l) => [l.data.index, l.attrs.ifname ?? '']));
    const state: RoutingState = { links: new Map(links.map((l) => [l.attrs.ifname ?? '', { up: l.data.flags?.up === true, addresses: [] as string[] }])) };
    for (const a of addresses) {
      const bytes = a.attrs.local ?? a.attrs.address;
      const link = state.links.get(nameOf.get(a.data.index ?? -1) ?? '');
      if (bytes && link) (link.addresses as string[]).push(`${[...bytes].join('.')}/${a.data.prefixlen ?? 32}`);
    }
    const route = routes.find((r) => r.data.dstLen === 0 && (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN);
    if (!route) return state;
    return { ...state, defaultRoute: { ...(route.attrs.gateway ? { via: [...route.attrs.gateway].join('.') } : {}), ...(route.attrs.oif !== undefined ? { dev: nameOf.get(route.attrs.oif) ?? '' } : {}) } };
  }

  /** = ip -d link show: every link of this namespace with its kind, master, parent, alias, state and MTU. */
  linkDetails(): LinkDetail[] {
    return detailsOf(this.socket.getLinks());
  }

  /** = ip -4 addr show: each link's IPv4 addresses (CIDR form), for links that have one. */
  ipv4Addresses(): Map<string, string[]> {
    return ipv4AddressesOf(this.socket.getLinks(), this.socket.getAddresses({ family: AF_INET }));
  }

  /**
   * = ip -4 route show table all, without default, local and broadcast routes. The devices
   * of the routes kept are asked for one by one (a handful: one per subnet on a link), not
   * by dumping every link (~50 ms at 2,000 links, on every network create).
   */
  ipv4Routes(): RouteEntry[] {
    const routes = this.socket.getRoutes({ family: AF_INET }).filter((r) => r.data.dstLen !== 0 && r.attrs.dst && r.data.type !== 'LOCAL' && r.data.type !== 'BROADCAST');
    const names = new Map<number, string | undefined>();
    for (const r of routes) if (r.attrs.oif !== undefined && !names.has(r.attrs.oif)) names.set(r.attrs.oif, this.socket.linkName(r.attrs.oif));
    return routes.map((r) => ({ dst: `${[...r.attrs.dst!].join('.')}/${r.data.dstLen ?? 32}`, dev: r.attrs.oif !== undefined ? names.get(r.attrs.oif) : undefined, scopeLink: r.data.scope === 'LINK' }));
  }

  /** = ip link show: every link's name in this socket's namespace. */
  linkNames(): string[] {
    return this.socket.getLinks().flatMap((l) => (l.attrs.ifname === undefined ? [] : [l.attrs.ifname]));
  }

  /**
   * = ip link add link PARENT name NAME [netns NS] [address MAC] [mtu M] type macvlan mode MODE:
   * the parent is looked up in this socket's namespace, the link is born in NS.
   */
  addMacvlan(req: MacvlanRequest): void {
    const linkinfo = attrBytes(ifla.formatInfo({ kind: 'macvlan', data: u32Attr(IFLA_MACVLAN_MODE, MACVLAN_MODE[req.mode]) }));
    this.socket.newLink(
      {},
      {
        ifname: req.name,
        link: u32Bytes(this.linkIndex(req.parent)),
        ...(req.mac !== undefined ? { address: macBytes(req.mac) } : {}),
        ...(req.netnsFd !== undefined ? { netNsFd: req.netnsFd } : {}),
        mtu: req.mtu,
        linkinfo,
      },
      CREATE_EXCL,
    );
  }

  /** = ip link add NAME [address MAC] [mtu M] type bridge forward_delay 0 mcast_snooping 0 */
  addBridge(name: string, mac?: string, mtu?: number): void {
    const data = attrBytes(ifla.formatBridge({ forwardDelay: u32Bytes(0), mcastSnooping: Buffer.from([0]) }));
    const linkinfo = attrBytes(ifla.formatInfo({ kind: 'bridge', data }));
    this.socket.newLink({}, { ifname: name, ...(mac !== undefined ? { address: macBytes(mac) } : {}), ...(mtu !== undefined ? { mtu } : {}), linkinfo }, CREATE_EXCL);
  }

  /** = ip link set DEV up */
  setUp(name: string): void {
    this.setLinkByName(name, { change: { up: true }, flags: { up: true } });
  }

  /** = ip link set DEV down */
  setDown(name: string): void {
    // The UP bit in the change mask, cleared in the flags.
    this.setLinkByName(name, { change: { up: true }, flags: {} });
  }

  /**
   * = ip link set dev DEV addrgenmode none: IFLA_AF_SPEC, AF_INET6, IFLA_INET6_ADDR_GEN_MODE
   * = IN6_ADDR_GEN_MODE_NONE (the kernel accepts it on an existing link only, not in the
   * request that creates one).
   */
  setNoIpv6Address(name: string): void {
    this.setLinkByName(name, {}, { afSpec: new Map([[AF_INET6, ADDR_GEN_MODE_NONE]]) });
  }

  /**
   * RTM_SETLINK naming the link by IFLA_IFNAME (index 0): the kernel finds it by name, one
   * request instead of a lookup and the change (an attach makes three such changes).
   */
  private setLinkByName(name: string, data: nl.rt.Link, attrs: Omit<nl.ifla.LinkAttrs, 'ifname'> = {}): void {
    try {
      this.socket.setLink({ ...data, index: 0 }, { ...attrs, ifname: name });
    } catch (err) {
      if (isNoSuchDevice(err)) throw new Error(`Cannot find device "${name}"`, { cause: err });
      throw err;
    }
  }

  /**
   * = ip link set dev DEV type bridge_slave hairpin on: RTM_NEWLINK on the existing port
   * with the bridge port's mode in IFLA_INFO_SLAVE_DATA, as iproute2 sends it.
   */
  setHairpin(name: string): void {
    const slaveData = attrBytes(ifla.formatBridgePort({ mode: ifla.BridgePortMode.HAIRPIN }));
    const linkinfo = attrBytes(ifla.formatInfo({ slaveKind: 'bridge', slaveData }));
    this.socket.newLink({ index: this.linkIndex(name) }, { linkinfo });
  }

  /** = ip link set dev DEV alias ALIAS */
  setAlias(name: string, alias: string): void {
    this.setLinkByName(name, {}, { ifalias: alias });
  }

  /** = ip link set dev DEV name NAME (the link must be down) */
  rename(name: string, to: string): void {
    this.socket.setLink({ index: this.linkIndex(name) }, { ifname: to });
  }

  /** = ip link set dev DEV master BRIDGE */
  setMaster(name: string, master: string): void {
    this.socket.setLink({ index: this.linkIndex(name) }, { master: this.linkIndex(master) });
  }

  /**
   * = ip link del DEV, where a link already gone counts as deleted: a veth vanishes on its
   * own when the namespace holding its peer is freed, which can happen between the read
   * a plan was made from and this step (a container's process exiting meanwhile).
   */
  deleteLink(name: string): void {
    try {
      const index = this.socket.linkIndex(name);
      if (index !== undefined) this.socket.delLink({ index });
    } catch (err) {
      if (!isNoSuchDevice(err)) throw err;
    }
  }

  /**
   * = bridge fdb replace MAC dev DEV dst DST: where frames for MAC go on a VXLAN link (the
   * link's own table, NTF_SELF; NUD_PERMANENT|NUD_NOARP as `bridge` makes it: the VXLAN
   * driver refuses an entry that is neither permanent nor reachable).
   */
  replaceFdb(dev: string, mac: string, dst: string): void {
    const ifindex = this.linkIndex(dev);
    this.socket.newNeighbor({ family: AF_BRIDGE, ifindex, state: { noarp: true, permanent: true }, flags: { self: true } }, { lladdr: macBytes(mac), dst: ipBytes(dst) }, CREATE_REPLACE);
  }

  /**
   * = bridge fdb replace MAC dev PORT master static: an entry in the bridge's own table
   * (NTF_MASTER), static (NUD_NOARP; "permanent" would mean the bridge's own address).
   */
  replacePortFdb(port: string, mac: string): void {
    const ifindex = this.linkIndex(port);
    this.socket.newNeighbor({ family: AF_BRIDGE, ifindex, state: { noarp: true }, flags: { master: true } }, { lladdr: macBytes(mac) }, CREATE_REPLACE);
  }

  /** = bridge fdb del MAC dev DEV dst DST */
  deleteFdb(dev: string, mac: string, dst: string): void {
    const ifindex = this.linkIndex(dev);
    this.socket.delNeighbor({ family: AF_BRIDGE, ifindex, flags: { self: true } }, { lladdr: macBytes(mac), dst: ipBytes(dst) });
  }

  /** = ip neigh replace ADDRESS lladdr MAC dev DEV nud permanent */
  replaceNeighbour(dev: string, address: string, mac: string): void {
    const ifindex = this.linkIndex(dev);
    this.socket.newNeighbor({ family: AF_INET, ifindex, state: { permanent: true } }, { dst: ipBytes(address), lladdr: macBytes(mac) }, CREATE_REPLACE);
  }

  /** = ip neigh del ADDRESS dev DEV */
  deleteNeighbour(dev: string, address: string): void {
    const ifindex = this.linkIndex(dev);
    this.socket.delNeighbor({ family: AF_INET, ifindex }, { dst: ipBytes(address) });
  }

  /** = ip addr add ADDRESS/PREFIX dev DEV */
  addAddress(dev: string, address: string, prefixLength: number): void {
    this.addAddressAt(this.linkIndex(dev), address, prefixLength);
  }

  /** = ip addr add ADDRESS/PREFIX dev DEV, DEV named by its index: the request is sent at once, before anything is awaited. */
  addAddressAt(index: number, address: string, prefixLength: number): void {
    const bytes = ipBytes(address);
    this.socket.newAddress({ family: AF_INET, prefixlen: prefixLength, index }, { local: bytes, address: bytes }, CREATE_EXCL);
  }

  /** = ip addr del ADDRESS/PREFIX dev DEV, DEV named by its index: the request is sent at once. */
  deleteAddressAt(index: number, address: string, prefixLength: number): void {
    const bytes = ipBytes(address);
    this.socket.delAddress({ family: AF_INET, prefixlen: prefixLength, index }, { local: bytes, address: bytes });
  }

  /** = ip route add default via GATEWAY */
  addDefaultRoute(gateway: string): void {
    this.socket.newRoute(
      { family: AF_INET, dstLen: 0, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
      { gateway: ipBytes(gateway) },
      CREATE_EXCL,
    );
  }
}

/** A link as `ip -d link show` describes it. */
export interface LinkDetail {
  readonly name: string;
  /** "bridge", "veth", ... ("" when the kernel reports none). */
  readonly kind: string;
  readonly master: string | undefined;
  /** The link it is stacked on (a macvlan's parent; a veth's peer), when in this namespace. */
  readonly parent: string | undefined;
  readonly alias: string | undefined;
  readonly up: boolean;
  readonly mtu: number;
}

/** A namespace's links and IPv4 addresses, read together, and their digest. */
export interface HostState {
  readonly links: LinkDetail[];
  readonly addresses: Map<string, string[]>;
  readonly digest: string;
}

/** An IPv4 route to a subnet (or host), as `ip -4 route` lists it. */
export interface RouteEntry {
  /** CIDR form, e.g. "10.1.0.0/16". */
  readonly dst: string;
  readonly dev: string | undefined;
  /** Scope link: the subnet is reached directly on `dev`. */
  readonly scopeLink: boolean;
}

/** A namespace's links, IPv4 addresses (CIDR) and default route, as Rtnl.routingState reads them. */
export interface RoutingState {
  readonly links: ReadonlyMap<string, { readonly up: boolean; readonly addresses: readonly string[] }>;
  readonly defaultRoute?: { readonly via?: string; readonly dev?: string };
}

/**
 * Calls `onEvent` for every link and IPv4 address change in this thread's namespace
 * (rtnetlink's LINK and IPV4_IFADDR multicast groups, in-process), and with `routes` for
 * every IPv4 route change too, until closed. The socket belongs to the namespace the
 * thread is in when this is called (see namespaces.ts: inNetns).
 *
 * `busy`: a namespace where hundreds of changes can come at once (the host's), whose
 * socket drops an overflow instead of failing (listening-socket.ts). Finding the socket's
 * descriptor reads every descriptor of the daemon, so a sandbox's watch, whose namespace
 * changes a handful of things at a time, goes without.
 */
export function watchRouting(onEvent: () => void, opts: { readonly routes: boolean; readonly busy: boolean }): { close(): void } {
  // A plain netlink socket: a message says "look again" and its attributes are not parsed
  // (the library's rtnetlink socket parsed every attribute of every link message, 0.4 s of
  // the daemon's thread while 1,000 containers started: bench/scale.ts under --cpu-prof).
  const make = () => nl.createNetlink(NETLINK_ROUTE);
  const socket = opts.busy ? listeningSocket(make) : make();
  socket.addMembership(RTNLGRP_LINK);
  socket.addMembership(RTNLGRP_IPV4_IFADDR);
  if (opts.routes) socket.addMembership(RTNLGRP_IPV4_ROUTE);
  socket.on('message', () => onEvent());
  socket.socket.on('error', readFailureIsAChange(onEvent));
  return { close: () => socket.socket.close() };
}

/** linux/rtnetlink.h: the multicast groups a routing watch joins. */
const RTNLGRP_LINK = 1;
const RTNLGRP_IPV4_IFADDR = 5;
const RTNLGRP_IPV4_ROUTE = 7;

/** A watch's read failing for any other reason than an overflow (listening-socket.ts) also means "look again". */
function readFailureIsAChange(onEvent: () => void): () => void {
  return () => onEvent();
}

/** linux/netfilter/nfnetlink.h NFNLGRP_NFTABLES. */
const NFNLGRP_NFTABLES = 7;

/**
 * Calls `onEvent` for every nftables ruleset change in this thread's namespace — what
 * `nft monitor` listens to (nfnetlink's NFTABLES group), in-process. iptables-nft's
 * changes are nftables changes too; iptables-legacy's are not seen.
 */
export function watchNftables(onEvent: () => void): { close(): void } {
  const socket = listeningSocket(() => nl.createNetlink(NETLINK_NETFILTER));
  socket.addMembership(NFNLGRP_NFTABLES);
  socket.on('message', () => onEvent());
  socket.on('error', readFailureIsAChange(onEvent));
  return { close: () => socket.socket.close() };
}

/** The kernel's answer for a link that does not exist (the netlink library words it "Request rejected: ENODEV"). */
function isNoSuchDevice(err: unknown): boolean {
  return err instanceof Error && /\bENODEV\b/.test(err.message);
}

type LinkMessages = readonly nl.rt.LinkMessage[];
type AddressMessages = readonly nl.rt.AddressMessage[];

function detailsOf(links: LinkMessages): LinkDetail[] {
  const nameOf = new Map(links.map((l) => [l.data.index, l.attrs.ifname]));
  return links.flatMap((l): LinkDetail[] => {
    const name = l.attrs.ifname;
    if (name === undefined) return [];
    // A link stacked on one in another namespace (a veth's peer there) names no parent here.
    const parent = l.attrs.link !== undefined && l.attrs.linkNetnsid === undefined ? nameOf.get(l.attrs.link.readUInt32LE(0)) : undefined;
    const master = l.attrs.master !== undefined ? nameOf.get(l.attrs.master) : undefined;
    return [{ name, kind: l.attrs.linkinfo ? (ifla.parseInfo(l.attrs.linkinfo).kind ?? '') : '', master, parent, alias: l.attrs.ifalias, up: l.data.flags?.up === true, mtu: l.attrs.mtu ?? 0 }];
  });
}

function ipv4AddressesOf(links: LinkMessages, addresses: AddressMessages): Map<string, string[]> {
  const nameOf = new Map(links.map((l) => [l.data.index, l.attrs.ifname ?? '']));
  const out = new Map<string, string[]>();
  for (const a of addresses) {
    const bytes = a.attrs.local ?? a.attrs.address;
    const name = nameOf.get(a.data.index ?? -1);
    if (!bytes || !name) continue;
    out.set(name, [...(out.get(name) ?? []), `${[...bytes].join('.')}/${a.data.prefixlen ?? 32}`]);
  }
  return out;
}
