import { InvalidArgumentError } from '../../common/errors.js';
import { newId } from '../../common/ids.js';
import { parseEndpointSettings } from '../../api/requests.js';
import { builtinDrivers } from '../../drivers/registry.js';
import { checkedAttachment } from '../../engine/container-config.js';
import { planNewContainer } from '../../engine/endpoints.js';
import { describeMode, parseNetworkMode } from '../../engine/modes.js';
import { validateContainerName } from '../../engine/names.js';
import { defaultBridgeRecord, NetworkTable } from '../../engine/networks.js';
import { allocateHostPorts, ephemeralRange } from '../../engine/ports.js';
import { parsePortBindings } from '../../engine/portspec.js';
import { publishPlan } from '../../engine/publisher.js';
import { sandboxName, sandboxUpPlan } from '../../engine/sandbox.js';
import { nftablesBackend } from '../../firewall/nftables.js';
import { DOCKER_DEFAULT_POOLS } from '../../ipam/subnets.js';
import { UNKNOWN_HOST_PORTS } from '../../kernel/host-ports.js';
import { resolveExecutable } from '../../kernel/process.js';
import { renderPlan } from '../../kernel/render.js';
import type { CreateBody } from './run.js';

/**
 * `run --dry-run` with no daemon to ask (or no right to): the plan against the defaults a
 * fresh daemon would use. Part 6 replaces this second planning path with the daemon's own
 * (one plan path); until then it lives here, loaded only when needed.
 */
export async function planOffline(body: CreateBody, name: string | undefined): Promise<number> {
  // No daemon to ask (or no right to): plan against the defaults a fresh daemon would use.
  if (name !== undefined) validateContainerName(name);
  if (body.Cmd.length === 0) throw new InvalidArgumentError('no command given', 'put the command after "--"');
  await resolveExecutable(body.Cmd[0]!);
  const mode = parseNetworkMode(body.HostConfig.NetworkMode);
  if (mode.kind === 'host' || mode.kind === 'none') {
    console.error(`# the berth daemon is not reachable; --network ${mode.kind} needs ${mode.kind === 'host' ? 'no kernel changes' : 'a namespace with lo up only'}`);
    if (mode.kind === 'none') console.log(renderPlan(sandboxUpPlan(sandboxName(newId()), [], { createNetns: true })));
    return 0;
  }
  if (mode.kind !== 'bridge' || mode.network !== 'bridge') {
    throw new InvalidArgumentError(`cannot plan for ${describeMode(mode)} without the daemon: only it knows that network or container`, 'start the daemon, or plan for --network bridge, host or none');
  }
  const networks = new NetworkTable();
  const network = defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, []);
  networks.add(network);
  console.error(`# the berth daemon is not reachable: planning against a fresh default bridge (berth0 ${network.subnet}) and the nftables backend`);
  const endpointRequest = parseEndpointSettings(body.NetworkingConfig.EndpointsConfig[body.HostConfig.NetworkMode], '--network');
  const attachment = checkedAttachment(network, endpointRequest, networks);
  const { plan, endpoints } = planNewContainer(networks, builtinDrivers(), [attachment], new Set());
  const mappings = parsePortBindings(body.HostConfig.PortBindings, body.ExposedPorts, body.HostConfig.PublishAllPorts);
  // Without the daemon nothing is known to be taken (and an unprivileged user cannot probe
  // ports below 1024): ports come out as a fresh host would give them.
  const ports = allocateHostPorts(mappings, [], UNKNOWN_HOST_PORTS, await ephemeralRange());
  console.log(renderPlan([...plan, ...publishPlan(nftablesBackend, networks.firewallModel([]), name ?? 'the new container', endpoints[0]!, ports)]));
  return 0;
}
