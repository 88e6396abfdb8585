import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asBerthError, BerthError, ConflictError, InvalidArgumentError, NotFoundError, quotePrefix, type ErrorCode } from '../common/errors.js';
import { sessionProcesses } from '../kernel/process.js';
import { streamStats } from './stats.js';
import { EVENT_FILTERS, eventFilter, eventTime, streamEvents } from './events.js';
import { WAIT_CONDITIONS, type Engine, type WaitCondition } from '../engine/engine.js';
import { parseFilters } from './filters.js';
import { asksForStopped, CONTAINER_LIST_FILTERS, containerListFilter, NETWORK_LIST_FILTERS, NETWORK_PRUNE_FILTERS, networkListFilter, networkPruneFilter } from './list-filters.js';
import { API_VERSION } from './api-version.js';
import { versionView, type BuildInfo } from './version.js';
import { infoView, type DaemonFacts } from './info.js';
import { renderPlan } from '../kernel/render.js';
import { explainPlan, type NameRecord } from '../kernel/explain.js';
import type { Plan } from '../kernel/ops.js';
import { closeLogSources, openLogSources, streamLogs } from './logs.js';
import { readJsonBody } from '../common/json-body.js';
import { imageRefusal, isHostImage, parseConnect, parseCreateContainer, parseCreateNetwork, parseExecConfig, parseExecStart, parseTerminalSize, queryFlag } from './requests.js';
import { acceptUpgrade, MULTIPLEXED_STREAM, RAW_STREAM, readUpgradeBody, refuseUpgrade, relayExec } from './hijack.js';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { containerInspect, containerSummary, execInspect, hostImageInspect, networkInspect } from './views.js';

const STATUS_OF: Record<ErrorCode, number> = {
  not_found: 404,
  conflict: 409,
  invalid_argument: 400,
  exhausted: 409,
  kernel: 500,
  missing_feature: 500,
  permission: 403,
  unavailable: 503,
  too_large: 413,
  internal: 500,
};

interface Context {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: string[];
  readonly query: URLSearchParams;
}

type Handler = (ctx: Context) => Promise<void>;

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handler: Handler;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A plan, not applied: as the script --dry-run prints and as `berth explain` prints it. */
function planAnswer(res: ServerResponse, planned: { readonly plan: Plan; readonly names?: readonly NameRecord[] }): void {
  json(res, 200, { Script: renderPlan(planned.plan), Explanation: explainPlan(planned.plan, planned.names) });
}

function noContent(res: ServerResponse): void {
  res.writeHead(204).end();
}

/** What dockerd answers on /_ping besides the API version (clients read Ostype and the cache headers). */
const PING_HEADERS = {
  'Content-Type': 'text/plain; charset=utf-8',
  'Api-Version': API_VERSION,
  Ostype: 'linux',
  'Docker-Experimental': 'false',
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
};

/** The path without the optional /vN.NN prefix, and the query, of a request target (origin or absolute form). */
function parseTarget(target: string): { path: string; query: URLSearchParams } {
  let url: URL;
  try {
    url = new URL(target, 'http://berth');
  } catch {
    throw new InvalidArgumentError(`malformed request target "${quotePrefix(target)}"`, 'send a path such as /v1.43/containers/json');
  }
  return { path: url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, ''), query: url.searchParams };
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidArgumentError(`malformed percent-escape in the path segment "${quotePrefix(segment)}"`);
  }
}

/** The log files a logs or attach request asks for (its stdout and stderr flags). */
function wantedLogs(paths: { stdoutPath: string; stderrPath: string }, query: URLSearchParams): { stdoutPath?: string; stderrPath?: string } {
  return { stdoutPath: queryFlag(query, 'stdout') ? paths.stdoutPath : undefined, stderrPath: queryFlag(query, 'stderr') ? paths.stderrPath : undefined };
}

/** `?t=SECONDS` of stop and restart, in milliseconds; undefined: the daemon's default. */
function parseStopTimeout(query: URLSearchParams): number | undefined {
  const t = query.get('t');
  if (t !== null && !/^\d+$/.test(t)) throw new InvalidArgumentError(`invalid stop timeout "${quotePrefix(t)}": give whole seconds, e.g. t=10`);
  return t === null ? undefined : Number(t) * 1000;
}

function parseWaitCondition(raw: string | null): WaitCondition {
  const condition = raw ?? 'not-running';
  if (!(WAIT_CONDITIONS as readonly string[]).includes(condition)) {
    throw new InvalidArgumentError(`invalid condition "${quotePrefix(condition)}"`, `accepted: ${WAIT_CONDITIONS.join(', ')}`);
  }
  return condition as WaitCondition;
}

/**
 * The daemon's HTTP API over a unix socket. Paths and JSON follow the Docker Engine API
 * (an optional /v1.NN prefix is accepted, as the docker CLI sends one); berth-only
 * features live under /berth/.
 */
export function apiRoutes(engine: Engine, build: BuildInfo, facts: DaemonFacts): Route[] {
  const route = (method: string, path: string, handler: Handler): Route => ({
    method,
    pattern: new RegExp(`^${path.replaceAll('{id}', '([^/]+)')}$`),
    handler,
  });
  return [
    // Clients ask HEAD first (the docker CLI, at every command); a 404 costs them a retry with GET.
    ...(['GET', 'HEAD'] as const).map((method) =>
      route(method, '/_ping', ({ res }) => {
        res.writeHead(200, PING_HEADERS).end('OK');
        return Promise.resolve();
      }),
    ),
    route('GET', '/version', ({ res }) => {
      json(res, 200, versionView(build));
      return Promise.resolve();
    }),
    route('GET', '/info', ({ res }) => {
      json(res, 200, infoView(engine, build, facts));
      return Promise.resolve();
    }),
    // berth runs no images: the lists are empty, the pseudo-image "host" can be inspected, any other is explained, a pull refused.
    route('GET', '/images/json', ({ res }) => {
      json(res, 200, []);
      return Promise.resolve();
    }),
    route('GET', '/images/{id}/json', ({ res, params }) => {
      if (!isHostImage(params[0]!)) return Promise.reject(imageRefusal(params[0]!));
      json(res, 200, hostImageInspect());
      return Promise.resolve();
    }),
    route('POST', '/images/create', ({ query }) => Promise.reject(imageRefusal(query.get('fromImage') ?? ''))),
    route('POST', '/containers/create', async ({ req, res, query }) => {
      const request = parseCreateContainer(await readJsonBody(req), query.get('name') ?? undefined);
      const { record, warnings } = await engine.createContainer(request);
      json(res, 201, { Id: record.id, Warnings: warnings });
    }),
    route('POST', '/containers/{id}/start', async ({ res, params }) => {
      await engine.startContainer(params[0]!);
      noContent(res);
    }),
    route('POST', '/containers/{id}/stop', async ({ res, params, query }) => {
      await engine.stopContainer(params[0]!, parseStopTimeout(query));
      noContent(res);
    }),
    route('POST', '/containers/{id}/restart', async ({ res, params, query }) => {
      await engine.restartContainer(params[0]!, parseStopTimeout(query));
      noContent(res);
    }),
    route('POST', '/containers/{id}/rename', async ({ res, params, query }) => {
      const name = query.get('name');
      if (!name) throw new InvalidArgumentError('rename needs ?name=NEW_NAME');
      await engine.renameContainer(params[0]!, name);
      noContent(res);
    }),
    route('GET', '/containers/{id}/top', async ({ res, params }) => {
      const c = engine.containers.get(params[0]!);
      if (c.state.status !== 'running') throw new ConflictError(`container ${c.name} is not running`);
      const { titles, processes } = await sessionProcesses(c.state.pid);
      json(res, 200, { Titles: titles, Processes: processes });
    }),
    route('GET', '/containers/{id}/stats', async ({ res, params, query }) => {
      const c = engine.containers.get(params[0]!);
      // Docker's stream defaults to true; one-shot and stream=0 ask for one sample.
      const stream = query.get('stream') === null ? !queryFlag(query, 'one-shot') : queryFlag(query, 'stream');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      await streamStats(res, () => engine.containers.byIdExact(c.id), stream);
      res.end();
    }),
    route('GET', '/events', async ({ res, query }) => {
      const matches = eventFilter(parseFilters(query.get('filters'), EVENT_FILTERS));
      const since = eventTime('since', query.get('since'));
      const until = eventTime('until', query.get('until'));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      await streamEvents(res, engine.events, matches, since, until);
      res.end();
    }),
    route('POST', '/containers/{id}/kill', async ({ res, params, query }) => {
      await engine.killContainer(params[0]!, query.get('signal') ?? 'SIGKILL');
      noContent(res);
    }),
    // Headers go out at once, the body at the exit: Docker's client returns from ContainerWait
    // only once the headers arrive, and `docker run` starts the container after that.
    route('POST', '/containers/{id}/wait', async ({ res, params, query }) => {
      const exited = engine.waitContainer(params[0]!, parseWaitCondition(query.get('condition')));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      res.end(JSON.stringify({ StatusCode: await exited, Error: null }));
    }),
    route('GET', '/containers/json', ({ res, query }) => {
      const filters = parseFilters(query.get('filters'), CONTAINER_LIST_FILTERS);
      const matches = containerListFilter(filters, {
        container: (ref) => engine.containers.get(ref),
        networkIds: (ref) => engine.networks.all().filter((n) => n.name === ref || n.id.startsWith(ref)).map((n) => n.id),
      });
      const all = queryFlag(query, 'all') || asksForStopped(filters);
      const list = engine.containers.all().filter((c) => (all || c.state.status === 'running') && matches(c));
      list.sort((a, b) => b.created.localeCompare(a.created));
      json(res, 200, list.map((c) => containerSummary(c, engine.networks.all())));
      return Promise.resolve();
    }),
    route('GET', '/containers/{id}/json', ({ res, params }) => {
      const c = engine.containers.get(params[0]!);
      json(res, 200, containerInspect(c, engine.networks.all(), engine.containers.all(), engine.containerFiles(c), engine.execs.ofContainer(c.id)));
      return Promise.resolve();
    }),
    route('GET', '/containers/{id}/logs', async ({ res, params, query }) => {
      const c = engine.containers.get(params[0]!);
      const paths = engine.logPaths(c.id);
      const follow = queryFlag(query, 'follow') ? { exited: engine.waitContainer(c.id) } : undefined;
      const sources = await openLogSources(wantedLogs(paths, query), { from: 'start', create: false });
      try {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
        await streamLogs(res, sources, follow);
      } finally {
        await closeLogSources(sources);
      }
      res.end();
    }),
    route('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
      const session = engine.execs.create(params[0]!, parseExecConfig(await readJsonBody(req)));
      json(res, 201, { Id: session.id });
    }),
    // Clients that do not hijack (or ask for a detached exec) land here; the others in upgradeRoutes.
    route('POST', '/exec/{id}/start', async ({ req, res, params }) => {
      const { detach } = parseExecStart(await readJsonBody(req));
      const session = engine.execs.get(params[0]!);
      const proc = await engine.execs.start(session.id);
      if (detach) {
        proc.stdin.end();
        res.writeHead(200).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': session.config.tty ? RAW_STREAM : MULTIPLEXED_STREAM });
      await relayExec(proc, res, undefined, { tty: session.config.tty, stdout: session.config.attachStdout, stderr: session.config.attachStderr });
      res.end();
    }),
    route('GET', '/exec/{id}/json', ({ res, params }) => {
      json(res, 200, execInspect(engine.execs.get(params[0]!)));
      return Promise.resolve();
    }),
    route('POST', '/exec/{id}/resize', ({ res, params, query }) => {
      const { rows, cols } = parseTerminalSize(query);
      engine.execs.get(params[0]!).process?.resize(rows, cols);
      res.writeHead(200).end();
      return Promise.resolve();
    }),
    // Containers have no terminal of their own (create refuses Tty): nothing to resize.
    route('POST', '/containers/{id}/resize', ({ res, params }) => {
      engine.containers.get(params[0]!);
      res.writeHead(200).end();
      return Promise.resolve();
    }),
    route('DELETE', '/containers/{id}', async ({ res, params, query }) => {
      await engine.removeContainer(params[0]!, { force: queryFlag(query, 'force') });
      noContent(res);
    }),
    route('GET', '/networks', ({ res, query }) => {
      const matches = networkListFilter(parseFilters(query.get('filters'), NETWORK_LIST_FILTERS), (n) => engine.networkInUse(n.id));
      json(res, 200, engine.networks.all().filter(matches).map((n) => networkInspect(n, engine.containers.all(), engine.externalEndpoints.all())));
      return Promise.resolve();
    }),
    route('GET', '/networks/{id}', ({ res, params }) => {
      json(res, 200, networkInspect(engine.networks.get(params[0]!), engine.containers.all(), engine.externalEndpoints.all()));
      return Promise.resolve();
    }),
    route('POST', '/networks/create', async ({ req, res }) => {
      const created = await engine.createNetwork(parseCreateNetwork(await readJsonBody(req)));
      json(res, 201, { Id: created.id, Warning: '' });
    }),
    route('POST', '/networks/prune', async ({ res, query }) => {
      const selects = networkPruneFilter(parseFilters(query.get('filters'), NETWORK_PRUNE_FILTERS));
      json(res, 200, { NetworksDeleted: await engine.pruneNetworks(selects) });
    }),
    route('DELETE', '/networks/{id}', async ({ res, params }) => {
      await engine.removeNetwork(params[0]!);
      noContent(res);
    }),
    route('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
      const { container, endpoint } = parseConnect(await readJsonBody(req));
      await engine.connectNetwork(params[0]!, container, endpoint);
      json(res, 200, {});
    }),
    route('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
      const { container } = parseConnect(await readJsonBody(req));
      await engine.disconnectNetwork(params[0]!, container);
      json(res, 200, {});
    }),
    // berth-only: drift repair now (`berth system reconcile [--dry-run]`).
    route('POST', '/berth/reconcile', async ({ res, query }) => {
      const dryRun = queryFlag(query, 'dry-run');
      const { steps, failures } = await engine.repairDrift({ dryRun, full: true });
      json(res, 200, { Steps: steps.map((s) => ({ What: s.what, Script: renderPlan(s.plan) })), Failures: failures, Applied: !dryRun });
    }),
    // berth-only: the exact commands an operation would execute, changing nothing: Script
    // for --dry-run, Explanation (a comment saying why above each step) for `berth explain`.
    route('POST', '/berth/plan/network', async ({ req, res }) => {
      const planned = await engine.planNetwork(parseCreateNetwork(await readJsonBody(req)));
      json(res, 200, {
        Script: renderPlan(planned.network),
        Explanation: explainPlan(planned.network),
        FirstEndpointScript: renderPlan(planned.firstEndpoint),
        FirstEndpointExplanation: explainPlan(planned.firstEndpoint),
        Warnings: planned.warnings,
      });
    }),
    route('POST', '/berth/plan/run', async ({ req, res, query }) => {
      planAnswer(res, await engine.planRun(parseCreateContainer(await readJsonBody(req), query.get('name') ?? undefined)));
    }),
    route('POST', '/berth/plan/networks/{id}/connect', async ({ req, res, params }) => {
      const { container, endpoint } = parseConnect(await readJsonBody(req));
      planAnswer(res, await engine.planConnect(params[0]!, container, endpoint));
    }),
    route('POST', '/berth/plan/networks/{id}/disconnect', async ({ req, res, params }) => {
      const { container } = parseConnect(await readJsonBody(req));
      planAnswer(res, { plan: await engine.planDisconnect(params[0]!, container) });
    }),
    route('POST', '/berth/plan/networks/{id}/rm', async ({ res, params }) => {
      planAnswer(res, { plan: await engine.planRemoveNetwork(params[0]!) });
    }),
    route('POST', '/berth/plan/containers/{id}/rm', async ({ res, params, query }) => {
      planAnswer(res, { plan: await engine.planRemoveContainer(params[0]!, { force: queryFlag(query, 'force') }) });
    }),
    // berth-only: `berth trace`: where a packet from src to dst goes, and which rule decides.
    route('GET', '/berth/trace', async ({ res, query }) => {
      const src = query.get('src');
      const dst = query.get('dst');
      if (!src || !dst) throw new InvalidArgumentError('trace needs src and dst', 'e.g. /berth/trace?src=web&dst=db:5432');
      json(res, 200, await engine.trace(src, dst, { probe: queryFlag(query, 'probe') }));
    }),
    // berth-only: the current state as the steps that would rebuild it from nothing.
    route('GET', '/berth/explain/containers/{id}', ({ res, params }) => {
      planAnswer(res, engine.rebuildContainer(params[0]!));
      return Promise.resolve();
    }),
    route('GET', '/berth/explain/networks/{id}', ({ res, params }) => {
      planAnswer(res, { plan: engine.rebuildNetwork(params[0]!) });
      return Promise.resolve();
    }),
  ];
}

type UpgradeHandler = (ctx: { req: IncomingMessage; socket: Duplex; head: Buffer; params: string[]; query: URLSearchParams }) => Promise<void>;

/** The hijacked calls: exec start and attach (hijack.ts). */
export function upgradeRoutes(engine: Engine): { method: string; pattern: RegExp; handler: UpgradeHandler }[] {
  return [
    {
      method: 'POST',
      pattern: /^\/exec\/([^/]+)\/start$/,
      handler: async ({ req, socket, head, params }) => {
        const { body, rest } = await readUpgradeBody(req, socket, head);
        parseExecStart(body);
        const session = engine.execs.get(params[0]!);
        const proc = await engine.execs.start(session.id);
        acceptUpgrade(socket, session.config.tty);
        if (rest.length > 0 && session.config.attachStdin) proc.stdin.write(rest);
        await relayExec(proc, socket, session.config.attachStdin ? socket : undefined, { tty: session.config.tty, stdout: session.config.attachStdout, stderr: session.config.attachStderr });
        socket.end();
      },
    },
    {
      method: 'POST',
      pattern: /^\/containers\/([^/]+)\/attach$/,
      handler: async ({ req, socket, head, params, query }) => {
        const { rest } = await readUpgradeBody(req, socket, head);
        const c = engine.containers.get(params[0]!);
        // A container attached before its start (foreground `docker run`) streams until its next exit.
        const exited = engine.waitContainer(c.id, c.state.status === 'running' ? 'not-running' : 'next-exit');
        // Opened before the answer: the client starts the container only once attached.
        const sources = await openLogSources(wantedLogs(engine.logPaths(c.id), query), { from: queryFlag(query, 'logs') ? 'start' : 'now', create: true });
        try {
          acceptUpgrade(socket, false);
          if (queryFlag(query, 'stdin') && c.openStdin) void relayStdin(engine, c.id, socket, rest);
          await streamLogs(socket, sources, queryFlag(query, 'stream') ? { exited } : undefined);
        } finally {
          await closeLogSources(sources);
        }
        socket.end();
      },
    },
  ];
}

/**
 * An attach's stdin into a `-i` container's FIFO, in order, from the moment it runs; the
 * client's end of input (its half-close) ends the container's input (StdinOnce).
 */
async function relayStdin(engine: Engine, id: string, socket: Duplex, first: Buffer): Promise<void> {
  socket.pause();
  let open = true;
  socket.once('close', () => (open = false));
  const writer = await engine.stdinWriter(id, () => open);
  if (!writer) return;
  let written = first.length > 0 ? writer.write(first).then(() => undefined) : Promise.resolve();
  socket.on('data', (d: Buffer) => {
    written = written.then(() => writer.write(d)).then(() => undefined);
  });
  socket.once('end', () => {
    written = written.then(() => engine.closeStdin(id));
  });
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  await written.catch(() => undefined);
}

/** The 'upgrade' listener: hijacked calls, and a plain HTTP error for anything that fails before the switch. */
export function handleUpgrade(engine: Engine): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const routes = upgradeRoutes(engine);
  return (req, socket, head) => {
    socket.on('error', () => undefined);
    const handled = Promise.resolve().then(() => {
      const { path, query } = parseTarget(req.url ?? '/');
      for (const r of routes) {
        const m = r.method === req.method ? r.pattern.exec(path) : null;
        if (m) return r.handler({ req, socket, head, params: m.slice(1).map(decodePathSegment), query });
      }
      throw new NotFoundError(`page not found: ${req.method ?? ''} ${quotePrefix(path)} (with Upgrade)`);
    });
    handled.catch((err: unknown) => {
      const e = asBerthError(err);
      if (e.code === 'internal') console.error(err);
      refuseUpgrade(socket, STATUS_OF[e.code], errorBody(e, req.headers['user-agent']));
    });
  };
}

/**
 * Every request gets an answer and none can stop the daemon: the request line, path and
 * query are data entering the program, so a malformed one (an absolute-form target with a
 * bad host, a broken percent-escape) is a 400 like any other bad input.
 */
export function handleRequest(routes: Route[]): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    // Through a promise, so anything a handler (or the routing) throws is answered, not fatal.
    const handled = Promise.resolve().then(() => {
      const { path, query } = parseTarget(req.url ?? '/');
      for (const r of routes) {
        const m = r.method === req.method ? r.pattern.exec(path) : null;
        if (m) return r.handler({ req, res, params: m.slice(1).map(decodePathSegment), query });
      }
      throw new NotFoundError(`page not found: ${req.method ?? ''} ${quotePrefix(path)}`);
    });
    handled.catch((err: unknown) => {
      const e = asBerthError(err);
      if (e.code === 'internal') console.error(err);
      if (res.headersSent) res.end();
      else json(res, STATUS_OF[e.code], errorBody(e, req.headers['user-agent'])); // {message} is what Docker clients read; code and hint are berth's
    });
  };
}

/** Docker's own clients (CLI, SDKs, compose), which show an error's `message` and nothing else. */
const DOCKER_CLIENT_AGENT = /^(Docker-Client\/|docker-sdk-|docker-compose\/|Go-http-client\/)/;

/**
 * An error as the API answers it: {code, message, hint}. Docker's clients show `message`
 * alone, so for them the hint (what to do instead) is part of it.
 */
function errorBody(e: BerthError, userAgent: string | undefined) {
  const body = e.toJSON();
  return body.hint !== undefined && DOCKER_CLIENT_AGENT.test(userAgent ?? '') ? { ...body, message: `${body.message} (${body.hint})` } : body;
}

/**
 * What one client may cost the daemon. Bodies are capped in readJsonBody (MAX_BODY_BYTES).
 *  - headers: 16 KiB (Node's default, said explicitly), all of them within 10 s, the whole
 *    request within 60 s: a client that sends a byte now and then (slowloris) is cut off,
 *    while streams the daemon sends (logs -f, events, attach, wait) are not limited, since
 *    only the request counts;
 *  - 4096 connections at once; the next is answered 503 with the cap and closed;
 *  - a listen backlog of 4096 (the kernel caps it at net.core.somaxconn): a burst of a
 *    thousand clients connecting at once waits in the queue instead of failing with EAGAIN
 *    (Node's default backlog is 511).
 */
export const API_LIMITS = {
  maxHeaderBytes: 16 << 10,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  maxConnections: 4096,
  backlog: 4096,
} as const;

/** Listens on `socketPath`: mode 0660, owner root, group `berth` when that group exists (else root's). */
export async function listenUnix(engine: Engine, socketPath: string, build: BuildInfo, facts: DaemonFacts): Promise<Server> {
  await mkdir(dirname(socketPath), { recursive: true });
  await rm(socketPath, { force: true });
  const server = createServer(
    {
      maxHeaderSize: API_LIMITS.maxHeaderBytes,
      headersTimeout: API_LIMITS.headersTimeoutMs,
      requestTimeout: API_LIMITS.requestTimeoutMs,
      // How often those timeouts are checked (Node's default is 30 s).
      connectionsCheckingInterval: 1000,
    },
    handleRequest(apiRoutes(engine, build, facts)),
  );
  server.on('upgrade', handleUpgrade(engine));
  refuseBeyond(server, API_LIMITS.maxConnections);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socketPath, backlog: API_LIMITS.backlog }, resolve);
  });
  await grantApiAccess(socketPath);
  return server;
}

/**
 * Who may use the API may use `path` (the socket, the topology page's address): mode 0660,
 * owner root, group `berth` when it exists — Docker's convention (its `docker` group): its
 * members need no sudo.
 */
export async function grantApiAccess(path: string): Promise<void> {
  await chmod(path, 0o660);
  const group = await groupId(SOCKET_GROUP);
  if (group !== undefined) await chown(path, 0, group);
}

/** The group whose members may use the API socket, when it exists; otherwise root alone may. */
export const SOCKET_GROUP = 'berth';

/** The id of group `name` in /etc/group; undefined when there is none. */
async function groupId(name: string): Promise<number | undefined> {
  const groups = await readFile('/etc/group', 'utf8').catch(() => '');
  const line = groups.split('\n').find((l) => l.split(':')[0] === name);
  const gid = Number(line?.split(':')[2]);
  return line !== undefined && Number.isInteger(gid) ? gid : undefined;
}

/** Connections beyond `max` get a 503 naming the cap and are closed, before any request is read. */
function refuseBeyond(server: Server, max: number): void {
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open <= max) return;
    socket.on('error', () => undefined);
    const body = JSON.stringify({ code: 'unavailable', message: `too many connections to the daemon: the cap is ${max} at once`, hint: 'retry when fewer clients are connected' });
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
  });
}
