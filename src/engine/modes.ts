import { InvalidArgumentError } from '../common/errors.js';

/**
 * Docker's network modes (HostConfig.NetworkMode), which decide what kind of sandbox a
 * container gets:
 *  - bridge: its own namespace with one interface per bridge network (the default
 *    `bridge` or a user-defined one; `network connect` adds more);
 *  - none: its own namespace with only lo;
 *  - host: no namespace of its own, the host's network stack;
 *  - container:<ref>: the namespace of another, running, container.
 */
export type NetworkMode =
  | { readonly kind: 'bridge'; readonly network: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'host' }
  | { readonly kind: 'container'; readonly container: string };

export function parseNetworkMode(text: string): NetworkMode {
  if (text === '' || text === 'default' || text === 'bridge') return { kind: 'bridge', network: 'bridge' };
  if (text === 'host') return { kind: 'host' };
  if (text === 'none') return { kind: 'none' };
  if (text.startsWith('container:')) {
    const container = text.slice('container:'.length);
    if (container === '') throw new InvalidArgumentError('invalid network mode "container:": it names no container', 'use --network container:NAME');
    return { kind: 'container', container };
  }
  return { kind: 'bridge', network: text };
}

/** Whether the mode gives the container a namespace of its own (created at start, removed at rm). */
export function ownsSandbox(mode: NetworkMode): boolean {
  return mode.kind === 'bridge' || mode.kind === 'none';
}

/** How a mode is named in messages: "the host network mode", "container:bb1". */
export function describeMode(mode: NetworkMode): string {
  switch (mode.kind) {
    case 'bridge':
      return `network ${mode.network}`;
    case 'container':
      return `network mode container:${mode.container}`;
    case 'host':
    case 'none':
      return `the ${mode.kind} network mode`;
  }
}
