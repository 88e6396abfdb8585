import { request, type Agent } from 'node:http';

/**
 * One Docker Engine API request over a daemon's unix socket (benches talk to berth and Docker
 * alike), on a connection of its own unless `agent` is given: Node's global agent keeps
 * connections alive, and one the daemon closed while a bench sat in spawnSync would be
 * reused before its close was read (EPIPE). A bench that keeps its client busy passes an
 * agent of its own that keeps connections alive, as API clients do (docker-py's session,
 * one docker CLI process).
 */
export function call(socketPath: string, method: string, path: string, body?: unknown, agent?: Agent): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath, method, path, agent: agent ?? false, headers: payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** `call`, failing on a non-2xx status. */
export async function callOk(socketPath: string, method: string, path: string, body?: unknown): Promise<string> {
  const r = await call(socketPath, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.text;
}
