import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asBerthError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { Engine } from '../engine/engine.js';
import { topologyOf } from './topology.js';

/**
 * The topology page (`berth daemon --web ADDR:PORT`): a page that draws the network and
 * traces paths on it, its assets, and three calls — the topology, its changes as
 * server-sent events, and a trace. It listens on loopback unless told otherwise.
 *
 * Access is the API's: the API socket is for root and the `berth` group, so the page asks
 * for a token the daemon writes to a file only they can read (<exec-root>/web-url, the
 * page's address with the token). The first visit with ?token= sets a cookie; every call
 * needs the token, in the cookie or the query.
 */
export interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'web/index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'web/app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'web/style.css', type: 'text/css; charset=utf-8' },
  '/cytoscape.min.js': { file: 'node_modules/cytoscape/dist/cytoscape.min.js', type: 'text/javascript; charset=utf-8' },
};

/** ADDR:PORT or PORT (then on 127.0.0.1). */
export function parseWebAddress(value: string): { host: string; port: number } {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError(`invalid --web "${quotePrefix(value)}"`, 'give PORT or IPv4:PORT, e.g. --web 127.0.0.1:8181');
  return { host: m[1] ?? '127.0.0.1', port };
}

export async function listenWeb(engine: Engine, address: { host: string; port: number }): Promise<WebServer> {
  const root = repositoryRoot();
  const token = randomBytes(16).toString('hex');
  const streams = new Set<ServerResponse>();
  const unsubscribe = engine.events.subscribe((event) => {
    const line = `event: changed\ndata: ${JSON.stringify({ type: event.type, action: event.action, name: event.attributes.name ?? '' })}\n\n`;
    for (const res of streams) res.write(line);
  });
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = asBerthError(err);
      if (!res.headersSent) res.writeHead(e.code === 'not_found' ? 404 : e.code === 'invalid_argument' ? 400 : e.code === 'conflict' ? 409 : 500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: e.message, ...(e.hint ? { hint: e.hint } : {}) }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://page');
    if (req.method !== 'GET') return void res.writeHead(405, { Allow: 'GET' }).end();
    const given = url.searchParams.get('token') ?? /(?:^|;\s*)berth_token=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1] ?? '';
    if (!sameToken(given, token)) {
      res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' });
      return void res.end('berth: this page needs its token: open the address in <exec-root>/web-url (readable by root and the berth group)\n');
    }
    const headers = { 'Set-Cookie': `berth_token=${token}; HttpOnly; SameSite=Strict; Path=/`, 'Cache-Control': 'no-store' };
    const asset = ASSETS[url.pathname];
    if (asset) {
      res.writeHead(200, { ...headers, 'Content-Type': asset.type });
      return void res.end(await readFile(join(root, asset.file)));
    }
    if (url.pathname === '/api/topology') return json(res, headers, topologyOf(engine, hostname()));
    if (url.pathname === '/api/trace') {
      const src = url.searchParams.get('src') ?? '';
      const dst = url.searchParams.get('dst') ?? '';
      if (!src || !dst) throw new InvalidArgumentError('a trace needs a source and a destination', 'e.g. src=web&dst=db:5432');
      return json(res, headers, await engine.trace(src, dst, { probe: url.searchParams.get('probe') === '1' }));
    }
    if (url.pathname === '/api/events') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
      res.write(': berth topology changes\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return {
    url: `http://${address.host}:${address.port}/?token=${token}`,
    async close() {
      unsubscribe();
      for (const res of streams) res.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}

function json(res: ServerResponse, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sameToken(given: string, token: string): boolean {
  return given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
}

/** The checkout this program runs from (the page's files and cytoscape live there), found upwards from this module. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'web', 'index.html'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('the topology page\'s files (web/index.html) are not beside this program');
    dir = up;
  }
  return dir;
}
