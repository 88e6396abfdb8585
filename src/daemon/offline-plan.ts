import { parseCreateContainer } from '../api/requests.js';
import { builtinDrivers } from '../drivers/registry.js';
import { Engine } from '../engine/engine.js';
import { subnetsText } from '../engine/model.js';
import { LocalIpam } from '../ipam/local.js';
import { ALL_FEATURES, probeKernelFeatures } from '../kernel/features.js';
import { RecordingExecutor } from '../kernel/recording.js';
import { explainPlan } from '../kernel/explain.js';
import { renderPlan } from '../kernel/render.js';
import { LocalStore } from '../store/local.js';
import { MemoryStore } from '../store/memory.js';
import { join } from 'node:path';
import { DAEMON_DEFAULTS, engineConfig, firewallBackend } from './daemon.js';
import { readDaemonSettings, type DaemonSettings } from './settings.js';

/**
 * `run --dry-run` when no daemon answers (or the user may not talk to it): the real
 * engine's planRun, composed here with an in-memory store, an executor that only records
 * and the host's kernel state read, never changed. It plans with the settings the last
 * daemon wrote (its bridge, pools, firewall backend) and its networks when they can be
 * read, else with a fresh daemon's defaults. No root needed: reading is all it does.
 * The store's containers are left out on purpose: reconciling them would mean deciding
 * about live processes, which only the daemon may do.
 */
export async function planOffline(body: unknown, name: string | undefined, explained: boolean, dataRoot: string = DAEMON_DEFAULTS.dataRoot): Promise<string> {
  const saved = await readDaemonSettings(dataRoot);
  const settings: DaemonSettings = saved ?? { bridge: DAEMON_DEFAULTS.bridge, addressPools: [], dnsServers: [], firewall: DAEMON_DEFAULTS.firewall };
  const store = new MemoryStore();
  const networks = await new LocalStore(join(dataRoot, 'store')).list('networks').catch(() => []);
  for (const n of networks) await store.put('networks', n.id, n.value);
  // Unprivileged, the kernel cannot be asked (unshare --net needs root): plan as if it had every driver.
  const features = await probeKernelFeatures().catch(() => ALL_FEATURES);
  const engine = await Engine.open(engineConfig({ ...settings, dataRoot, execRoot: DAEMON_DEFAULTS.execRoot }), {
    store,
    runStore: new MemoryStore(),
    executor: new RecordingExecutor(),
    drivers: builtinDrivers(features),
    ipam: new LocalIpam(),
    firewall: firewallBackend(settings.firewall),
    retiredFirewalls: [],
    nameService: () => ({ attach: () => undefined, detach: () => undefined, namesChanged: () => undefined, close: () => Promise.resolve() }),
  });
  try {
    const bridge = engine.defaultNetwork();
    console.error(
      `# the berth daemon is not reachable: planning ${saved ? `with the settings of the last daemon (${dataRoot}/daemon.json)` : "with a fresh daemon's defaults"}: ` +
        `default bridge ${String(bridge.driverData.bridge)} ${subnetsText(bridge)}, ${settings.firewall}, ${networks.length > 0 ? `${networks.length} stored networks` : 'no stored networks'}`,
    );
    const planned = await engine.planRun(parseCreateContainer(body, name));
    return explained ? explainPlan(planned.plan, planned.names) : renderPlan(planned.plan);
  } finally {
    await engine.close();
  }
}
