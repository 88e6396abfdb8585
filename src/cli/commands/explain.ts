import { HelpRequested, parseArgs, usageError, boolFlag, type CommandInfo } from '../../common/args.js';
import type { ApiClient } from '../client.js';
import type { Handover } from '../handover.js';
import { connectRequest, createNetworkRequest, disconnectRequest, type PlannedNetwork } from './network.js';
import { explainRun } from './run.js';

const EXPLAIN: CommandInfo = {
  name: 'explain',
  usage: `Usage: berth explain OPERATION ARGS...

Print the exact commands an operation runs on the kernel (ip, bridge, nft or iptables,
sysctl), in the order the daemon applies them, grouped by namespace, each step under a
comment saying why, and the names the embedded DNS starts answering. Nothing changes:
the output is a shell script that does by hand what berth would do.

Operations (each takes the same arguments as the command it explains):
  run [OPTIONS] -- COMMAND...                 a new container (without a daemon: as --dry-run)
  create [OPTIONS] -- COMMAND...              the same, for berth create + start
  network create [OPTIONS] NAME               a new network, and its first container's endpoint
  network connect [OPTIONS] NETWORK CONTAINER (or: connect)
  network disconnect NETWORK CONTAINER        (or: disconnect)
  network rm NETWORK
  rm [-f] CONTAINER

The current state, as the commands that would build it from nothing:
  container CONTAINER    a running container's namespace, interfaces, routes and ports
  network NETWORK        a network's links and the firewall (every network's rules: one table)`,
};

type Explainer = (client: ApiClient, argv: readonly string[], handover: Handover) => Promise<string>;

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

const explanation = async (answer: Promise<unknown>): Promise<string> => ((await answer) as { Explanation: string }).Explanation;

const NETWORK_OPERATIONS: Record<string, Explainer> = {
  create: async (client, argv) => {
    const { name, body } = createNetworkRequest(argv);
    const planned = (await client.call('POST', '/berth/plan/network', body)) as PlannedNetwork;
    for (const warning of planned.Warnings) console.error(`WARNING: ${warning}`);
    const network = planned.Explanation === '' ? `# network ${name}: nothing to create on the host (its parent link is used as it is)` : planned.Explanation;
    return `${network}\n\n# ===== what its first container's endpoint would add\n${planned.FirstEndpointExplanation}`;
  },
  connect: (client, argv) => {
    const { network, body } = connectRequest(argv);
    return explanation(client.call('POST', `/berth/plan/networks/${path(network)}/connect`, body));
  },
  disconnect: (client, argv) => {
    const { network, body } = disconnectRequest(argv);
    return explanation(client.call('POST', `/berth/plan/networks/${path(network)}/disconnect`, body));
  },
  rm: (client, argv) => explanation(client.call('POST', `/berth/plan/networks/${path(oneName(argv, 'network rm', 'NETWORK'))}/rm`)),
};

const OPERATIONS: Record<string, Explainer> = {
  run: (client, argv, handover) => explainRun(client, argv, handover, 'run'),
  create: (client, argv, handover) => explainRun(client, argv, handover, 'create'),
  connect: NETWORK_OPERATIONS.connect!,
  disconnect: NETWORK_OPERATIONS.disconnect!,
  rm: (client, argv) => {
    const parsed = parseArgs({ name: 'explain rm', usage: EXPLAIN.usage }, argv, { force: { short: 'f', value: false } });
    const container = oneName(parsed.positionals, 'rm', 'CONTAINER');
    return explanation(client.call('POST', `/berth/plan/containers/${path(container)}/rm${boolFlag(parsed, 'force') ? '?force=1' : ''}`));
  },
  container: (client, argv) => explanation(client.call('GET', `/berth/explain/containers/${path(oneName(argv, 'container', 'CONTAINER'))}`)),
  network: (client, argv, handover) => {
    const [first, ...rest] = argv;
    const operation = first === undefined ? undefined : NETWORK_OPERATIONS[first];
    if (operation) return operation(client, rest, handover);
    return explanation(client.call('GET', `/berth/explain/networks/${path(oneName(argv, 'network', 'NETWORK'))}`));
  },
};

export async function explainCommand(client: ApiClient, argv: readonly string[], handover: Handover): Promise<number> {
  const [operation, ...rest] = argv;
  if (operation === '--help' || operation === '-h' || operation === 'help') throw new HelpRequested(EXPLAIN.usage);
  if (operation === undefined) throw usageError(EXPLAIN, '"berth explain" requires an operation');
  const explain = OPERATIONS[operation];
  if (!explain) throw usageError(EXPLAIN, `cannot explain "${operation}" (operations: ${Object.keys(OPERATIONS).join(', ')}, network create|connect|disconnect|rm)`);
  const text = await explain(client, rest, handover);
  console.log(text === '' ? `# nothing to do on the kernel` : text);
  return 0;
}

function oneName(argv: readonly string[], operation: string, what: string): string {
  if (argv.length !== 1 || argv[0]!.startsWith('-')) throw usageError(EXPLAIN, `"berth explain ${operation}" takes exactly one ${what}`);
  return argv[0]!;
}
