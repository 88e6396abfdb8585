import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { BUILTIN_NETWORKS, type ContainerRecord, type NetworkRecord } from '../engine/model.js';
import { anyValue, booleanFilter, matchesLabels, matchesPattern, untilCutoffMs, type Filters } from './filters.js';

/**
 * The filters of Docker's list and prune endpoints, each as a predicate over berth's
 * records. Which names each endpoint accepts is Docker's list (api/swagger.yaml); a name
 * outside it is refused with 400 before anything is listed or removed.
 */
export const NETWORK_LIST_FILTERS = ['name', 'id', 'label', 'label!', 'driver', 'type', 'scope', 'dangling'] as const;
export const NETWORK_PRUNE_FILTERS = ['label', 'label!', 'until'] as const;
export const CONTAINER_LIST_FILTERS = ['name', 'id', 'label', 'label!', 'status', 'network', 'exited', 'before', 'since'] as const;

const CONTAINER_STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const NETWORK_TYPES = ['custom', 'builtin'];
const NETWORK_SCOPES = ['local', 'global', 'swarm'];

function isBuiltin(n: NetworkRecord): boolean {
  return (BUILTIN_NETWORKS as readonly string[]).includes(n.name);
}

function checkValues(filters: Filters, name: string, allowed: readonly string[]): void {
  for (const v of filters.get(name) ?? []) {
    if (!allowed.includes(v)) throw new InvalidArgumentError(`invalid filter '${name}=${quotePrefix(v)}'`, `${name} takes ${allowed.join(', ')}`);
  }
}

/** `GET /networks?filters=`; `inUse` says whether any container uses a network. */
export function networkListFilter(filters: Filters, inUse: (n: NetworkRecord) => boolean): (n: NetworkRecord) => boolean {
  checkValues(filters, 'type', NETWORK_TYPES);
  checkValues(filters, 'scope', NETWORK_SCOPES);
  const dangling = (filters.get('dangling') ?? []).map((v) => booleanFilter('dangling', v));
  return (n) =>
    anyValue(filters, 'name', (v) => matchesPattern(v, n.name)) &&
    anyValue(filters, 'id', (v) => matchesPattern(v, n.id)) &&
    anyValue(filters, 'driver', (v) => v === n.driver) &&
    anyValue(filters, 'type', (v) => (v === 'builtin') === isBuiltin(n)) &&
    anyValue(filters, 'scope', (v) => v === 'local') &&
    // Docker: dangling networks are the unused ones that are not predefined.
    dangling.every((want) => want === (!isBuiltin(n) && !inUse(n))) &&
    matchesLabels(filters, n.labels);
}

/** `POST /networks/prune?filters=`: which unused networks may go. */
export function networkPruneFilter(filters: Filters, nowMs = Date.now()): (n: NetworkRecord) => boolean {
  const cutoffs = (filters.get('until') ?? []).map((v) => untilCutoffMs(v, nowMs));
  return (n) => matchesLabels(filters, n.labels) && cutoffs.every((cutoff) => Date.parse(n.created) < cutoff);
}

/**
 * `GET /containers/json?filters=`. `before`/`since` name a container (name or id) and
 * keep those created before or after it; `exited=N` keeps exited containers with that code.
 */
export function containerListFilter(
  filters: Filters,
  lookup: { container(ref: string): ContainerRecord; networkIds(ref: string): readonly string[] },
): (c: ContainerRecord) => boolean {
  checkValues(filters, 'status', CONTAINER_STATUSES);
  const exitCodes = (filters.get('exited') ?? []).map((v) => {
    if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`invalid filter 'exited=${quotePrefix(v)}'`, 'exited takes an exit code, e.g. exited=0');
    return Number(v);
  });
  const before = (filters.get('before') ?? []).map((ref) => lookup.container(ref).created);
  const since = (filters.get('since') ?? []).map((ref) => lookup.container(ref).created);
  const networks = (filters.get('network') ?? []).map((ref) => ({ ref, ids: lookup.networkIds(ref) }));
  return (c) =>
    anyValue(filters, 'name', (v) => matchesPattern(v.replace(/^\//, ''), c.name)) &&
    anyValue(filters, 'id', (v) => c.id.startsWith(v)) &&
    anyValue(filters, 'status', (v) => v === c.state.status) &&
    (exitCodes.length === 0 || (c.state.status === 'exited' && exitCodes.includes(c.state.exitCode))) &&
    before.every((t) => c.created < t) &&
    since.every((t) => c.created > t) &&
    (networks.length === 0 || networks.some(({ ref, ids }) => containerOnNetwork(c, ref, ids))) &&
    matchesLabels(filters, c.labels);
}

function containerOnNetwork(c: ContainerRecord, ref: string, ids: readonly string[]): boolean {
  return c.networkMode === ref || c.networks.some((a) => ids.includes(a.networkId)) || c.endpoints.some((e) => ids.includes(e.networkId));
}

/** Whether the filters ask for stopped containers, which Docker then lists without all=1. */
export function asksForStopped(filters: Filters): boolean {
  return filters.has('exited') || (filters.get('status') ?? []).some((s) => s !== 'running');
}
