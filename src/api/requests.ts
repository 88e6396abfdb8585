import { InvalidArgumentError } from '../common/errors.js';
import type { CreateContainerRequest } from '../engine/engine.js';
import { parsePortBindings } from '../engine/portspec.js';

/**
 * Validation of request bodies: the HTTP body is data entering the program, so it is
 * checked here once and handed inward typed. Field names follow Docker's
 * ContainerCreateRequest (Cmd, Env, Hostname, HostConfig.NetworkMode, HostConfig.AutoRemove).
 */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringArray(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new InvalidArgumentError(`invalid request: ${field} must be an array of strings`);
  }
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`invalid request: ${field} must be a string`);
  return v;
}

export function parseCreateContainer(body: unknown, name: string | undefined): CreateContainerRequest {
  if (!isObject(body)) throw new InvalidArgumentError('invalid request: the body must be a JSON object');
  const hostConfig = body.HostConfig === undefined || body.HostConfig === null ? {} : body.HostConfig;
  if (!isObject(hostConfig)) throw new InvalidArgumentError('invalid request: HostConfig must be an object');
  const autoRemove = hostConfig.AutoRemove ?? false;
  if (typeof autoRemove !== 'boolean') throw new InvalidArgumentError('invalid request: HostConfig.AutoRemove must be a boolean');
  return {
    portMappings: parsePortBindings(hostConfig.PortBindings, body.ExposedPorts, hostConfig.PublishAllPorts),
    name: name === '' ? undefined : name,
    hostname: optionalString(body.Hostname, 'Hostname'),
    command: stringArray(body.Cmd, 'Cmd'),
    env: stringArray(body.Env, 'Env'),
    networkMode: optionalString(hostConfig.NetworkMode, 'HostConfig.NetworkMode') ?? 'bridge',
    autoRemove,
  };
}

export async function readJsonBody(req: AsyncIterable<Buffer>): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('invalid request: the body is not valid JSON');
  }
}

/** Docker's boolean query parameters: "1", "true" and "True" mean true. */
export function queryFlag(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  return v === '1' || v === 'true' || v === 'True';
}
