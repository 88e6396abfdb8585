import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { BerthError, type ErrorCode } from '../common/errors.js';

export const DEFAULT_SOCKET = '/run/berth/berth.sock';

/** `-H unix:///path`, BERTH_HOST, or the default socket. */
export function socketPathFrom(host: string | undefined): string {
  const value = host ?? process.env.BERTH_HOST ?? `unix://${DEFAULT_SOCKET}`;
  if (!value.startsWith('unix://') || value.length <= 'unix://'.length) {
    throw new BerthError('invalid_argument', `invalid host "${value}"`, 'berth listens on a unix socket: -H unix:///run/berth/berth.sock');
  }
  return value.slice('unix://'.length);
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

/** The CLI's side of the API: JSON requests over the daemon's unix socket. */
export class ApiClient {
  constructor(readonly socketPath: string) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.open(method, path, body);
    const text = await readAll(res);
    const parsed: unknown = text === '' ? undefined : safeJson(text);
    if ((res.statusCode ?? 500) >= 400) throw errorFromResponse(res.statusCode ?? 500, parsed, text);
    return parsed;
  }

  /** For streaming endpoints: the raw response, after checking its status. */
  async stream(method: string, path: string): Promise<IncomingMessage> {
    const res = await this.open(method, path, undefined);
    if ((res.statusCode ?? 500) >= 400) {
      const text = await readAll(res);
      throw errorFromResponse(res.statusCode ?? 500, safeJson(text), text);
    }
    return res;
  }

  /**
   * A hijacked call (exec start): the connection upgraded to a raw two-way stream, as
   * dockerd's clients do it. Resolves with the socket once the daemon answered 101.
   */
  hijack(path: string, body: unknown): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const req = request({
        socketPath: this.socketPath,
        method: 'POST',
        path,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), Connection: 'Upgrade', Upgrade: 'tcp' },
      });
      req.on('upgrade', (_res, socket, head) => {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.on('response', (res) => {
        void readAll(res).then((text) => reject(errorFromResponse(res.statusCode ?? 500, safeJson(text), text)));
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectionError(err)));
      req.end(payload);
    });
  }

  private open(method: string, path: string, body: unknown): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectionError(err)));
      req.end(payload);
    });
  }

  private connectionError(err: NodeJS.ErrnoException): BerthError {
    const where = `unix://${this.socketPath}`;
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
      return new BerthError('unavailable', `Cannot connect to the berth daemon at ${where}. Is the berth daemon running?`, 'start it as root: berth daemon &');
    }
    if (err.code === 'EACCES' || err.code === 'EPERM') {
      return new BerthError('permission', `permission denied while connecting to the berth daemon at ${where}`, 'berth needs root: run it with sudo');
    }
    return new BerthError('unavailable', `cannot talk to the berth daemon at ${where}: ${err.message}`);
  }
}

function readAll(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (text += d));
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const CODES: readonly ErrorCode[] = ['not_found', 'conflict', 'invalid_argument', 'exhausted', 'kernel', 'missing_feature', 'permission', 'unavailable', 'internal'];

function errorFromResponse(status: number, parsed: unknown, text: string): BerthError {
  const o = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { code?: unknown; message?: unknown; hint?: unknown };
  const code = CODES.find((c) => c === o.code) ?? (status === 404 ? 'not_found' : status === 409 ? 'conflict' : status === 400 ? 'invalid_argument' : 'internal');
  const message = typeof o.message === 'string' ? o.message : `daemon answered ${status}: ${text.slice(0, 200)}`;
  return new BerthError(code, message, typeof o.hint === 'string' ? o.hint : undefined);
}
