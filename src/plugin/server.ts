import { createServer, type Server, type ServerResponse } from 'node:http';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { asBerthError } from '../common/errors.js';
import { readJsonBody } from '../common/json-body.js';
import type { ExternalRuntime } from '../engine/external/runtime.js';
import type { ExternalEndpointTable } from '../engine/external/endpoints.js';
import {
  parseCreateEndpoint,
  parseCreateNetwork,
  parseEndpointId,
  parseJoin,
  parseNetworkId,
  parsePoolId,
  parsePortMap,
  parseReleaseAddress,
  parseRequestAddress,
  parseRequestPool,
  portMapView,
} from './protocol.js';

/**
 * berth as dockerd's network and IPAM plugin: one unix socket per driver in dockerd's
 * plugin directory (/run/docker/plugins), found by dockerd at the first `docker network
 * create -d NAME`. The socket's name is the driver's name in Docker.
 */
export interface PluginSocket {
  /** Docker's name for it: the socket file's basename. */
  readonly name: string;
  /** The berth driver behind it. */
  readonly driver: string;
  /** Whether it also serves IPAM (`--ipam-driver berth`). */
  readonly ipam: boolean;
}

export const PLUGIN_SOCKETS: readonly PluginSocket[] = [
  { name: 'berth', driver: 'bridge', ipam: true },
  { name: 'berth-macvlan', driver: 'macvlan', ipam: false },
  { name: 'berth-ipvlan', driver: 'ipvlan', ipam: false },
  { name: 'berth-overlay', driver: 'overlay', ipam: false },
];

/** The plugin protocol's media type (dockerd sends and accepts it). */
const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

type Handler = (body: unknown) => Promise<unknown>;

/** What the plugin serves: the engine's side for dockerd, and the driver capabilities it reports. */
export interface PluginBackend {
  readonly external: ExternalRuntime;
  readonly externalEndpoints: ExternalEndpointTable;
  /** local: the driver's networks connect one host's containers; global: across hosts (overlay). */
  driverScope(driver: string): 'local' | 'global';
}

/** The calls of one socket, by path (`/NetworkDriver.Join`). */
export function pluginRoutes(socket: PluginSocket, backend: PluginBackend): Map<string, Handler> {
  const { external } = backend;
  const implementsList = ['NetworkDriver', ...(socket.ipam ? ['IpamDriver'] : [])];
  const empty = async (work: Promise<unknown>) => {
    await work;
    return {};
  };
  const routes: [string, Handler][] = [
    ['/Plugin.Activate', () => Promise.resolve({ Implements: implementsList })],
    [
      '/NetworkDriver.GetCapabilities',
      () => {
        // Scope local: each dockerd keeps its own network (no Swarm, no dockerd KV store); an
        // overlay still connects across hosts, through berth's etcd: ConnectivityScope global.
        return Promise.resolve({ Scope: 'local', ConnectivityScope: backend.driverScope(socket.driver) });
      },
    ],
    ['/NetworkDriver.CreateNetwork', (b) => empty(external.createNetwork(parseCreateNetwork(b, socket.driver)))],
    ['/NetworkDriver.DeleteNetwork', (b) => empty(external.removeNetwork(parseNetworkId(b)))],
    [
      '/NetworkDriver.CreateEndpoint',
      async (b) => {
        const request = parseCreateEndpoint(b);
        const record = await external.createEndpoint(request.networkId, request.endpointId, request);
        const { endpoint } = record;
        // libnetwork takes back only what it did not give: the address berth chose, the MAC.
        const iface = {
          ...(request.address ? {} : { Address: `${endpoint.address}/${endpoint.prefixLength}` }),
          ...(request.mac || endpoint.mac === undefined ? {} : { MacAddress: endpoint.mac }),
        };
        return { Interface: iface };
      },
    ],
    ['/NetworkDriver.DeleteEndpoint', (b) => empty(external.removeEndpoint(parseEndpointId(b)))],
    [
      '/NetworkDriver.EndpointOperInfo',
      (b) => {
        const record = backend.externalEndpoints.get(parseEndpointId(b));
        if (!record) return Promise.resolve({ Value: {} });
        const { endpoint, ports } = record;
        return Promise.resolve({
          Value: {
            'com.docker.network.portmap': portMapView(ports),
            'berth.address': `${endpoint.address}/${endpoint.prefixLength}`,
            ...(endpoint.hostIfname !== undefined ? { 'berth.host-interface': endpoint.hostIfname } : {}),
          },
        });
      },
    ],
    [
      '/NetworkDriver.Join',
      async (b) => {
        const { endpointId, sandboxKey } = parseJoin(b);
        const joined = await external.join(endpointId, sandboxKey);
        const route = joined.info.defaultRoute;
        return {
          InterfaceName: { SrcName: joined.linkName, DstPrefix: 'eth' },
          // Neither (an overlay): dockerd gives the sandbox its docker_gwbridge for the way out.
          ...(route && 'via' in route ? { Gateway: route.via } : {}),
          ...(route && 'dev' in route ? { StaticRoutes: [{ Destination: '0.0.0.0/0', RouteType: 1 }] } : {}),
        };
      },
    ],
    ['/NetworkDriver.Leave', (b) => empty(external.leave(parseEndpointId(b)))],
    ['/NetworkDriver.DiscoverNew', () => Promise.resolve({})],
    ['/NetworkDriver.DiscoverDelete', () => Promise.resolve({})],
    [
      '/NetworkDriver.ProgramExternalConnectivity',
      async (b) => {
        const { endpointId, mappings } = parsePortMap(b);
        await external.publishPorts(endpointId, mappings);
        return {};
      },
    ],
    ['/NetworkDriver.RevokeExternalConnectivity', (b) => empty(external.revokePorts(parseEndpointId(b)))],
  ];
  if (socket.ipam) {
    routes.push(
      ['/IpamDriver.GetCapabilities', () => Promise.resolve({ RequiresMACAddress: false, RequiresRequestReplay: false })],
      ['/IpamDriver.GetDefaultAddressSpaces', () => Promise.resolve({ LocalDefaultAddressSpace: 'berth-local', GlobalDefaultAddressSpace: 'berth-global' })],
      [
        '/IpamDriver.RequestPool',
        async (b) => {
          const { poolId, pool } = await external.requestPool(parseRequestPool(b));
          return { PoolID: poolId, Pool: pool, Data: {} };
        },
      ],
      ['/IpamDriver.ReleasePool', (b) => empty(external.releasePool(parsePoolId(b)))],
      [
        '/IpamDriver.RequestAddress',
        async (b) => {
          const { poolId, address, isGateway } = parseRequestAddress(b);
          return { Address: await external.requestAddress(poolId, address, isGateway), Data: {} };
        },
      ],
      [
        '/IpamDriver.ReleaseAddress',
        (b) => {
          const { poolId, address } = parseReleaseAddress(b);
          return empty(external.releaseAddress(poolId, address));
        },
      ],
    );
  }
  return new Map(routes);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Listens on DIR/NAME.sock for each plugin socket. A failed call answers {"Err": message},
 * which dockerd shows as the error of the docker command; an unknown call is a 404, which
 * libnetwork reads as "not implemented" for its optional calls.
 */
export async function listenPlugins(dir: string, backend: PluginBackend): Promise<{ close(): Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const servers: { server: Server; path: string }[] = [];
  for (const socket of PLUGIN_SOCKETS) {
    const routes = pluginRoutes(socket, backend);
    const server = createServer((req, res) => {
      const handler = routes.get((req.url ?? '').split('?')[0]!);
      if (req.method !== 'POST' || !handler) {
        reply(res, 404, { Err: `${socket.name} does not serve ${req.method ?? ''} ${req.url ?? ''}` });
        return;
      }
      readJsonBody(req)
        .then(handler)
        .then((answer) => reply(res, 200, answer))
        .catch((err: unknown) => {
          const e = asBerthError(err);
          if (e.code === 'internal') console.error(err);
          reply(res, 500, { Err: e.hint ? `${e.message} (${e.hint})` : e.message });
        });
    });
    const path = join(dir, `${socket.name}.sock`);
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, resolve);
    });
    await chmod(path, 0o660);
    servers.push({ server, path });
  }
  return {
    async close() {
      for (const { server, path } of servers) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await rm(path, { force: true });
      }
    },
  };
}
