import { inNamedNetns } from './netlink/namespaces.js';
import { Rtnl, watchRouting, type RoutingState } from './netlink/rtnl.js';

export type { RoutingState };

/**
 * The routing state inside containers' namespaces, read and watched in-process: a netlink
 * socket is bound to the namespace its thread was in when it was made, so each is made
 * inside the sandbox (a setns there and back, no process) and then used from here.
 */

/** The links, addresses and default route inside the pinned namespace `netns`; undefined when it is gone. */
export function readSandboxRouting(netns: string): RoutingState | undefined {
  let socket: Rtnl;
  try {
    socket = inNamedNetns(netns, () => new Rtnl());
  } catch {
    return undefined;
  }
  try {
    return socket.routingState();
  } finally {
    socket.close();
  }
}

/**
 * Calls `onEvent` for every link, address and route change inside `netns` until closed
 * (~2 kB of socket per sandbox, nothing while it is quiet); undefined when the namespace is gone.
 */
export function watchSandboxRouting(netns: string, onEvent: () => void): { close(): void } | undefined {
  try {
    return inNamedNetns(netns, () => watchRouting(onEvent, { routes: true, busy: false }));
  } catch {
    return undefined;
  }
}

