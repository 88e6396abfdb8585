import type { Writable } from 'node:stream';
import { interfaceCounters, type InterfaceCounters } from '../kernel/net-counters.js';
import type { ContainerRecord } from '../engine/model.js';

/** How often a streamed `docker stats` gets a new sample (dockerd: 1 s). */
const INTERVAL_MS = 1000;

/**
 * GET /containers/{id}/stats in Docker's shape, with what a network engine can tell:
 * per-interface counters of the container's namespace (rx/tx bytes, packets, errors,
 * drops). CPU and memory are not berth's to measure (no cgroups of its own): zeros, which
 * `docker stats` shows as 0%.
 */
export async function statsSample(c: ContainerRecord, previous?: StatsSample): Promise<StatsSample> {
  const running = c.state.status === 'running';
  const counters = running ? await interfaceCounters(c.state.pid).catch(() => new Map<string, InterfaceCounters>()) : new Map<string, InterfaceCounters>();
  const cpu = { cpu_usage: { total_usage: 0, percpu_usage: [0], usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: 1, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    read: new Date().toISOString(),
    preread: previous?.read ?? '0001-01-01T00:00:00Z',
    pids_stats: {},
    blkio_stats: { io_service_bytes_recursive: null, io_serviced_recursive: null },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: previous?.cpu_stats ?? cpu,
    memory_stats: {},
    name: `/${c.name}`,
    id: c.id,
    networks: Object.fromEntries(
      [...counters].map(([name, n]) => [
        name,
        { rx_bytes: n.rxBytes, rx_packets: n.rxPackets, rx_errors: n.rxErrors, rx_dropped: n.rxDropped, tx_bytes: n.txBytes, tx_packets: n.txPackets, tx_errors: n.txErrors, tx_dropped: n.txDropped },
      ]),
    ),
  };
}

export type StatsSample = Record<string, unknown> & { readonly read: string; readonly cpu_stats: unknown };

/** One sample (stream=false), or one per second until the client goes or the container stops. */
export async function streamStats(out: Writable & { writableEnded: boolean }, container: () => ContainerRecord | undefined, stream: boolean): Promise<void> {
  let closed = false;
  out.once('close', () => (closed = true));
  let previous: StatsSample | undefined;
  for (;;) {
    const c = container();
    if (!c) return;
    previous = await statsSample(c, previous);
    out.write(`${JSON.stringify(previous)}\n`);
    if (!stream || closed || c.state.status !== 'running') return;
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  }
}
